import type { AuditEntry, AuditRecords } from '../store/interfaces.js';
import { GENESIS_HASH } from '../store/audit-batcher.js';
import { parseLink, unkeyedLink, type AuditChainKeys } from './audit-chain-keys.js';

/** A point of the chain: a record's sequence number and hash, as the broker publishes it in its log. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** Records under a chain key that is not configured: in their place in the chain, but their content unproven. */
export interface LinkedOnlyRecords {
  readonly key: string;
  readonly first: number;
  readonly last: number;
  readonly count: number;
}

export interface ChainVerification {
  readonly ok: boolean;
  /** Records walked whose links held. */
  readonly checked: number;
  readonly lastSeq: number;
  /** Records whose HMAC was verified with a configured chain key. */
  readonly keyed: number;
  /** Records of a chain from before it was keyed: plain SHA-256, only ever a prefix from record 1. */
  readonly hashOnly: number;
  readonly linkedOnly: readonly LinkedOnlyRecords[];
  /** The newest record walked. */
  readonly head: ChainHead | null;
  /** Published heads that were found in the store with the same hash. */
  readonly headsMatched: readonly number[];
  readonly problem?: { readonly seq: number; readonly reason: string };
}

export interface VerifyOptions {
  /**
   * The chain keys of the configured master keys. Without them only the links are checked: every keyed record
   * counts as linked-only (for tools that hold no master key).
   */
  readonly keys?: AuditChainKeys;
  /** Published heads the store must still hold, each with exactly its hash. */
  readonly heads?: readonly ChainHead[];
  readonly pageSize?: number;
}

/** Key rotations name the chain keys they retire (admin record "keys.rotate", detail.retired_chain_keys). */
const RETIRED_CHAIN_KEYS = 'retired_chain_keys';

function retiredKeys(record: string): string[] {
  if (!record.includes(`"${RETIRED_CHAIN_KEYS}"`)) return [];
  try {
    const parsed = JSON.parse(record) as {
      kind?: unknown;
      action?: unknown;
      outcome?: unknown;
      detail?: Record<string, unknown> | null;
    };
    const listed = parsed.detail?.[RETIRED_CHAIN_KEYS];
    if (parsed.kind !== 'admin' || parsed.action !== 'keys.rotate' || parsed.outcome !== 'allowed') return [];
    return typeof listed === 'string' ? listed.split(',').filter((key) => key !== '') : [];
  } catch {
    return [];
  }
}

interface KeySegments {
  readonly key: string;
  /** Contiguous runs of records under this key, in order. */
  readonly runs: { first: number; last: number }[];
  count: number;
}

interface Retirement {
  readonly seq: number;
  readonly by: string;
  readonly keys: readonly string[];
}

function range(first: number, last: number): string {
  return first === last ? `record ${first}` : `records ${first}-${last}`;
}

/**
 * Walks the whole chain page by page and names the first record that breaks it: edited, deleted, reordered,
 * relinked without the chain key, or missing from a published head.
 *
 * What a pass proves: every keyed record was written by a holder of a configured master key, in this order, and
 * nothing was inserted or removed before the newest record. Records under a key that is not configured are only
 * accepted when a verified key rotation retired that key, and only before that rotation: their place in the chain
 * is proven, their content is not. Deleting the newest records leaves a valid, shorter chain: only a published
 * head (`heads`) can tell.
 */
export async function verifyAuditChain(
  records: AuditRecords,
  options: VerifyOptions = {},
): Promise<ChainVerification> {
  const { keys, pageSize = 1000 } = options;
  const headsBySeq = new Map<number, string[]>();
  for (const head of options.heads ?? [])
    headsBySeq.set(head.seq, [...(headsBySeq.get(head.seq) ?? []), head.hash]);
  const unverified = new Map<string, KeySegments>();
  const retirements: Retirement[] = [];
  const headsMatched: number[] = [];
  let expectedPrev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  let keyed = 0;
  let hashOnly = 0;
  let keyedSeen = false;
  let head: ChainHead | null = null;

  /** Without `brokenAt`, the walk got to the end: the last record is the last one walked. */
  const result = (problem?: { seq: number; reason: string }, brokenAt?: number): ChainVerification => ({
    ok: problem === undefined,
    checked,
    lastSeq: brokenAt ?? expectedSeq - 1,
    keyed,
    hashOnly,
    linkedOnly: [...unverified.values()].map(({ key, runs, count }) => ({
      key,
      first: (runs[0] as { first: number }).first,
      last: (runs[runs.length - 1] as { last: number }).last,
      count,
    })),
    head,
    headsMatched,
    ...(problem === undefined ? {} : { problem }),
  });

  for (;;) {
    const page: AuditEntry[] = await records.page(expectedSeq - 1, pageSize);
    if (page.length === 0) break;
    for (const entry of page) {
      const fail = (reason: string) => result({ seq: entry.seq, reason }, entry.seq);
      if (entry.seq !== expectedSeq) {
        return fail(
          `record ${expectedSeq}${entry.seq > expectedSeq + 1 ? `-${entry.seq - 1}` : ''} is missing (deleted)`,
        );
      }
      if (entry.prevHash !== expectedPrev) {
        return fail(
          `record ${entry.seq} does not follow record ${entry.seq - 1} (its previous hash differs: reordered, or the one before was replaced)`,
        );
      }
      const link = parseLink(entry.hash);
      if (link.kind === 'unknown')
        return fail(`record ${entry.seq} has a hash in no form this broker writes`);
      if (link.kind === 'unkeyed') {
        if (keyedSeen) {
          return fail(
            `record ${entry.seq} is only hash-chained (plain SHA-256) after keyed records: it was relinked by someone without the chain key`,
          );
        }
        if (unkeyedLink(entry.prevHash, entry.record) !== entry.hash)
          return fail(`record ${entry.seq} was edited (its content no longer matches its hash)`);
        hashOnly += 1;
      } else {
        keyedSeen = true;
        const verified = keys?.verify(link.fingerprint, entry.prevHash, entry.record, entry.hash);
        if (verified === false)
          return fail(`record ${entry.seq} was edited (its content no longer matches its hash)`);
        if (verified === true) keyed += 1;
        else {
          const segments = unverified.get(link.fingerprint) ?? { key: link.fingerprint, runs: [], count: 0 };
          const lastRun = segments.runs[segments.runs.length - 1];
          if (lastRun !== undefined && lastRun.last === entry.seq - 1) lastRun.last = entry.seq;
          else segments.runs.push({ first: entry.seq, last: entry.seq });
          segments.count += 1;
          unverified.set(link.fingerprint, segments);
        }
        const retired = retiredKeys(entry.record);
        if (retired.length > 0) retirements.push({ seq: entry.seq, by: link.fingerprint, keys: retired });
      }
      for (const published of headsBySeq.get(entry.seq) ?? []) {
        if (published !== entry.hash) {
          return fail(
            `record ${entry.seq} does not have the hash of the published head: records up to ${entry.seq} were rewritten`,
          );
        }
        headsMatched.push(entry.seq);
      }
      expectedPrev = entry.hash;
      expectedSeq += 1;
      checked += 1;
      head = { seq: entry.seq, hash: entry.hash };
    }
  }

  if (keys !== undefined) {
    const problem = unprovenKeyProblem(keys, unverified, retirements);
    if (problem !== undefined) return result(problem);
  }
  const lastSeq = expectedSeq - 1;
  const beyond = Math.max(0, ...[...headsBySeq.keys()].filter((seq) => seq > lastSeq));
  if (beyond > 0) {
    return result({
      seq: lastSeq + 1,
      reason: `the store ends at record ${lastSeq}, but a head was published for record ${beyond}: the newest records, from ${lastSeq + 1} to ${beyond} at least, were deleted`,
    });
  }
  return result();
}

/**
 * Records under a key that is not configured are accepted only when a key rotation recorded under a configured
 * (or itself so accepted) key retired that key, and only if they come before that rotation: a key nobody
 * retired, or one used after its retirement, is what someone relinking the chain with a key of their own does.
 */
function unprovenKeyProblem(
  keys: AuditChainKeys,
  unverified: ReadonlyMap<string, KeySegments>,
  retirements: readonly Retirement[],
): { seq: number; reason: string } | undefined {
  const retiredAt = new Map<string, number>();
  const vouched = (key: string): boolean => keys.has(key) || retiredAt.has(key);
  for (let changed = true; changed;) {
    changed = false;
    for (const retirement of retirements) {
      if (!vouched(retirement.by)) continue;
      for (const key of retirement.keys) {
        const known = retiredAt.get(key);
        if (!keys.has(key) && (known === undefined || retirement.seq < known)) {
          retiredAt.set(key, retirement.seq);
          changed = true;
        }
      }
    }
  }
  const problems = [...unverified.values()].flatMap(({ key, runs }) => {
    const retiredSeq = retiredAt.get(key);
    const first = runs[0] as { first: number; last: number };
    if (retiredSeq === undefined) {
      return [
        {
          seq: first.first,
          reason: `${range(first.first, first.last)} ${first.first === first.last ? 'is' : 'are'} under chain key ${key}, which is not configured and which no key rotation retired: not written by this broker's keys (relinked with another key?); if ${key} is an old master key of yours, set it as SECRETS_BROKER_MASTER_KEY_OLD to verify them`,
        },
      ];
    }
    const late = runs.find((run) => run.last > retiredSeq);
    if (late === undefined) return [];
    const seq = Math.max(late.first, retiredSeq + 1);
    return [
      {
        seq,
        reason: `record ${seq} is under chain key ${key}, which the key rotation in record ${retiredSeq} retired: written after it, so not by this broker (or by a replica still on the old key)`,
      },
    ];
  });
  return problems.sort((a, b) => a.seq - b.seq)[0];
}
