import { addressBlock } from '../traffic/source-ip.js';
import { TokenBuckets } from '../traffic/token-bucket.js';

export interface AdminAuthLimits {
  /** Failed authentications an address may make at once... */
  readonly burst: number;
  /** ...and how many more it earns a second. */
  readonly refillPerSecond: number;
  /** How often the refused attempts are written as aggregate audit records. */
  readonly summaryIntervalMs: number;
  /** Addresses whose refusals are counted one by one; beyond, the least recent are counted together. */
  readonly maxTrackedAddresses: number;
  /** Aggregate records per window at most; the addresses beyond are summed into the last one. */
  readonly maxSummaryRecords: number;
  readonly now: () => number;
}

/** Ten failures at once, then one every six seconds, per address; one aggregate record per address a minute. */
export const DEFAULT_ADMIN_AUTH_LIMITS: AdminAuthLimits = {
  burst: 10,
  refillPerSecond: 1 / 6,
  summaryIntervalMs: 60_000,
  maxTrackedAddresses: 10_000,
  maxSummaryRecords: 100,
  now: () => Date.now(),
};

export const OTHER_ADDRESSES = '(other addresses)';

/** The refusals of one window: one address, or (OTHER_ADDRESSES) every address not listed on its own. */
export interface RefusalSummary {
  readonly sourceIp: string;
  readonly count: number;
  /** How many addresses an OTHER_ADDRESSES summary stands for. */
  readonly addresses?: number;
}

/**
 * Failed admin authentication per source address (per /64 for IPv6). Failures within an address's budget are answered 401 and
 * audited one by one; beyond it they are refused (429) and only counted, so a flood costs neither a write nor
 * unbounded memory. Valid tokens never touch the budget: an attacker sharing an address with admins cannot lock
 * them out.
 */
export class AdminAuthFailures {
  private readonly buckets: TokenBuckets;
  /** Refusals per address since the last drain, least recently refused first. */
  private refused = new Map<string, number>();
  private untracked = { count: 0, addresses: 0 };

  constructor(readonly limits: AdminAuthLimits = DEFAULT_ADMIN_AUTH_LIMITS) {
    this.buckets = new TokenBuckets(limits.now);
  }

  /** Records a failed authentication: 0 when it is within the budget, else the seconds to wait (Retry-After). */
  fail(sourceIp: string): number {
    const address = addressBlock(sourceIp);
    const wait = this.buckets.take(address, {
      rate: this.limits.refillPerSecond,
      burst: this.limits.burst,
    });
    if (wait > 0) this.count(address, 1);
    return wait;
  }

  /** The refusals counted since the last call, as at most `maxSummaryRecords` summaries, most refused first. */
  drain(): RefusalSummary[] {
    const byCount = [...this.refused].sort((a, b) => b[1] - a[1]);
    const others = { ...this.untracked };
    this.refused = new Map();
    this.untracked = { count: 0, addresses: 0 };
    const room = this.limits.maxSummaryRecords - (others.count > 0 ? 1 : 0);
    const listed =
      byCount.length > room ? byCount.slice(0, Math.max(0, this.limits.maxSummaryRecords - 1)) : byCount;
    for (const [, count] of byCount.slice(listed.length)) {
      others.count += count;
      others.addresses += 1;
    }
    return [
      ...listed.map(([sourceIp, count]) => ({ sourceIp, count })),
      ...(others.count > 0 ? [{ sourceIp: OTHER_ADDRESSES, ...others }] : []),
    ];
  }

  /** Counts summaries again that could not be written, so the next window reports them. */
  restore(summaries: readonly RefusalSummary[]): void {
    for (const summary of summaries) {
      if (summary.sourceIp === OTHER_ADDRESSES) {
        this.untracked.count += summary.count;
        this.untracked.addresses += summary.addresses ?? 1;
      } else this.count(summary.sourceIp, summary.count);
    }
  }

  private count(sourceIp: string, count: number): void {
    const before = this.refused.get(sourceIp) ?? 0;
    this.refused.delete(sourceIp);
    this.refused.set(sourceIp, before + count);
    if (this.refused.size <= this.limits.maxTrackedAddresses) return;
    const [oldest, oldestCount] = this.refused.entries().next().value as [string, number];
    this.refused.delete(oldest);
    this.untracked.count += oldestCount;
    this.untracked.addresses += 1;
  }
}
