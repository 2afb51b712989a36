import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AuditEntry, AuditRecords } from '../store/interfaces.js';
import { GENESIS_HASH } from './audit-batcher.js';
import {
  contentDigest,
  LINK_PATTERN,
  parseLink,
  type AuditChainKeys,
  type ParsedLink,
} from './audit-chain-keys.js';
import { isChainKeyedRecord } from './chain-keying.js';

/** A point of the chain: a record's sequence number and hash, as the broker publishes it in its log. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

const CHAIN_HEAD = new RegExp(`^([1-9][0-9]{0,14}):(${LINK_PATTERN})$`);

/** Example of the `SEQ:HASH` form, for error hints. */
export const CHAIN_HEAD_EXAMPLE = '1234:hmac2:<16 hex digits>:<64 hex digits>:<64 hex digits>';

/** A head as `SEQ:HASH` (how the broker logs it in audit_chain_head), or undefined when it is not in that form. */
export function parseChainHead(text: string): ChainHead | undefined {
  const match = CHAIN_HEAD.exec(text);
  return match === null ? undefined : { seq: Number(match[1]), hash: match[2] as string };
}

/**
 * Records under a chain key that is not configured here: their content is pinned by the digest of a later keyed
 * record, and that record's writer checked their link.
 */
export interface UnconfiguredKeyRecords {
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
  /** Records whose link was verified with a configured chain key. */
  readonly keyed: number;
  /** Records of a chain from before it was keyed: plain SHA-256, only ever a prefix from record 1. */
  readonly hashOnly: number;
  readonly underUnconfiguredKey: readonly UnconfiguredKeyRecords[];
  /** With a hash-only prefix: the record that keyed the chain (a broker of this version starting on it). */
  readonly keyedFrom: { readonly seq: number; readonly time: string | null } | null;
  /** The newest record walked. */
  readonly head: ChainHead | null;
  /** Published heads that were found in the store with the same hash. */
  readonly headsMatched: readonly number[];
  readonly problem?: { readonly seq: number; readonly reason: string };
}

export interface VerifyOptions {
  /** The chain keys of the configured master keys. */
  readonly keys: AuditChainKeys;
  /** Published heads the store must still hold, each with exactly its hash. */
  readonly heads?: readonly ChainHead[];
  readonly pageSize?: number;
}

function range(first: number, last: number): string {
  return first === last ? `record ${first}` : `records ${first}-${last}`;
}

function chainKeys(fingerprints: readonly string[]): string {
  return `chain key${fingerprints.length === 1 ? '' : 's'} ${fingerprints.join(', ')}`;
}

const SET_OLD_KEY = 'if it is an old master key of yours, set it as SECRETS_BROKER_MASTER_KEY_OLD to verify';

function recordTime(record: string): string | null {
  try {
    const { time } = JSON.parse(record) as { time?: unknown };
    return typeof time === 'string' ? time : null;
  } catch {
    return null;
  }
}

/**
 * Walks the whole chain page by page and names the first record that breaks it: edited, deleted, reordered,
 * relinked without the chain key, or missing from a published head.
 *
 * Every record's content digest is recomputed and must equal the one in its link, and every link under a
 * configured key must carry that key's HMAC of it; so a verified link authenticates the content of everything
 * before it. Links under a key that is not configured are accepted only when the record after them checked them
 * (its writer held that key) and, in the end, a record under a configured key follows; the newest record must be
 * under a configured key. Unkeyed links only form a prefix from record 1, followed by the record a broker writes
 * when it keys such a chain. Deleting the newest records leaves a valid, shorter chain: only a published head
 * (`heads`) can tell.
 */
export async function verifyAuditChain(
  records: AuditRecords,
  options: VerifyOptions,
): Promise<ChainVerification> {
  const walk = new ChainWalk(options);
  for (;;) {
    const page: AuditEntry[] = await records.page(walk.nextSeq - 1, options.pageSize ?? 1000);
    if (page.length === 0) break;
    for (const entry of page) {
      const broken = walk.step(entry);
      if (broken !== undefined) return walk.result(broken, broken.seq);
    }
    // SQLite answers a page without a turn of the event loop: over a long chain, let requests in between pages.
    await nextTurn();
  }
  return walk.finish();
}

type Break = { readonly seq: number; readonly reason: string };

/** The state of one walk along the chain, record by record: each step returns the break it found, if any. */
class ChainWalk {
  private readonly keys: AuditChainKeys;
  private readonly headsBySeq = new Map<number, string[]>();
  private readonly unconfigured = new Map<
    string,
    { key: string; first: number; last: number; count: number }
  >();
  private readonly headsMatched: number[] = [];
  private expectedPrev = GENESIS_HASH;
  private digest = GENESIS_HASH;
  nextSeq = 1;
  private checked = 0;
  private keyed = 0;
  private hashOnly = 0;
  private keyedFrom: ChainVerification['keyedFrom'] = null;
  /** The run of newest records under keys not configured here, waiting for a record under a configured key. */
  private awaiting: { first: number; last: number; keys: string[] } | undefined;
  private head: ChainHead | null = null;

  constructor(options: VerifyOptions) {
    this.keys = options.keys;
    for (const head of options.heads ?? [])
      this.headsBySeq.set(head.seq, [...(this.headsBySeq.get(head.seq) ?? []), head.hash]);
  }

  /** Without `brokenAt`, the walk got to the end: the last record is the last one walked. */
  result(problem?: Break, brokenAt?: number): ChainVerification {
    return {
      ok: problem === undefined,
      checked: this.checked,
      lastSeq: brokenAt ?? this.nextSeq - 1,
      keyed: this.keyed,
      hashOnly: this.hashOnly,
      underUnconfiguredKey: [...this.unconfigured.values()],
      keyedFrom: this.keyedFrom,
      head: this.head,
      headsMatched: this.headsMatched,
      ...(problem === undefined ? {} : { problem }),
    };
  }

  step(entry: AuditEntry): Break | undefined {
    const broken = (reason: string, seq = entry.seq): Break => ({ seq, reason });
    if (entry.seq !== this.nextSeq) {
      const gap = entry.seq > this.nextSeq + 1 ? `-${entry.seq - 1}` : '';
      return broken(`record ${this.nextSeq}${gap} is missing (deleted)`, this.nextSeq);
    }
    if (entry.prevHash !== this.expectedPrev) {
      return broken(
        `record ${entry.seq} does not follow record ${entry.seq - 1} (its previous hash differs: reordered, or the one before was replaced)`,
      );
    }
    const link = parseLink(entry.hash);
    if (link.kind === 'unknown')
      return broken(`record ${entry.seq} has a hash in no form this broker writes`);
    const expectedDigest = contentDigest(this.digest, entry.record);
    const problem =
      link.kind === 'unkeyed'
        ? this.unkeyedLink(entry, link.digest === expectedDigest)
        : this.keyedLink(entry, link, link.digest === expectedDigest);
    if (problem !== undefined)
      return problem.seq === undefined ? broken(problem.reason) : broken(problem.reason, problem.seq);
    for (const published of this.headsBySeq.get(entry.seq) ?? []) {
      if (published !== entry.hash) {
        return broken(
          `record ${entry.seq} does not have the hash of the published head: records up to ${entry.seq} were rewritten`,
        );
      }
      this.headsMatched.push(entry.seq);
    }
    this.expectedPrev = entry.hash;
    this.digest = expectedDigest;
    this.nextSeq += 1;
    this.checked += 1;
    this.head = { seq: entry.seq, hash: entry.hash };
    return undefined;
  }

  /** A plain SHA-256 link: only ever a prefix from record 1. */
  private unkeyedLink(
    entry: AuditEntry,
    digestMatches: boolean,
  ): { reason: string; seq?: number } | undefined {
    if (this.checked > this.hashOnly) {
      return {
        reason: `record ${entry.seq} is only hash-chained (plain SHA-256) after keyed records: written by someone without the chain key (or by a broker from before the keyed chain, still running on this database)`,
      };
    }
    if (!digestMatches)
      return { reason: `record ${entry.seq} was edited (its content no longer matches its hash)` };
    this.hashOnly += 1;
    return undefined;
  }

  private keyedLink(
    entry: AuditEntry,
    link: Extract<ParsedLink, { fingerprint: string }>,
    digestMatches: boolean,
  ): { reason: string; seq?: number } | undefined {
    if (!digestMatches) return { reason: this.editedBefore(entry.seq) };
    if (this.checked === this.hashOnly && this.hashOnly > 0) {
      if (!isChainKeyedRecord(entry.record, this.hashOnly)) {
        return {
          reason: `${range(1, this.hashOnly)} ${this.hashOnly === 1 ? 'is' : 'are'} only hash-chained (plain SHA-256), and record ${entry.seq}, the first keyed one, is not the record a broker writes when it keys a chain from before this version: the chain was rewritten without the chain key, then written on`,
        };
      }
      this.keyedFrom = { seq: entry.seq, time: recordTime(entry.record) };
    }
    const awaiting = this.awaiting;
    if (awaiting !== undefined && !link.checkedPrevious) {
      const [these, were] = awaiting.first === awaiting.last ? ['it', 'was'] : ['them', 'were'];
      return {
        reason: `${range(awaiting.first, awaiting.last)} ${awaiting.first === awaiting.last ? 'is' : 'are'} under ${chainKeys(awaiting.keys)}, not configured here, and record ${entry.seq} was linked to ${these} by a broker that could not check ${these}: nothing proves ${these} ${were} written by a broker (inserted?); ${SET_OLD_KEY} ${these}`,
        seq: awaiting.first,
      };
    }
    const verified = this.keys.verify(entry.hash);
    if (verified === false) {
      return {
        reason: `record ${entry.seq}'s link is not the HMAC of chain key ${link.fingerprint}: forged (relinked by someone without the key)`,
      };
    }
    if (verified === true) {
      this.keyed += 1;
      this.awaiting = undefined;
    } else {
      this.countUnconfigured(entry.seq, link.fingerprint);
    }
    return undefined;
  }

  /** The content digest in a keyed link differs: records before it that no key proves may be the edited ones. */
  private editedBefore(seq: number): string {
    const unproven =
      this.awaiting !== undefined
        ? `${range(this.awaiting.first, this.awaiting.last)} before it (under a key not configured here)`
        : this.checked === this.hashOnly && this.hashOnly > 0
          ? `${range(1, this.hashOnly)} before it (only hash-chained)`
          : undefined;
    return unproven === undefined
      ? `record ${seq} was edited (its content no longer matches its hash)`
      : `record ${seq}, or one of ${unproven}, was edited: the content no longer matches record ${seq}'s hash`;
  }

  private countUnconfigured(seq: number, fingerprint: string): void {
    const counted = this.unconfigured.get(fingerprint);
    if (counted === undefined)
      this.unconfigured.set(fingerprint, { key: fingerprint, first: seq, last: seq, count: 1 });
    else {
      counted.last = seq;
      counted.count += 1;
    }
    const runKeys = this.awaiting?.keys ?? [];
    this.awaiting = {
      first: this.awaiting?.first ?? seq,
      last: seq,
      keys: runKeys.includes(fingerprint) ? runKeys : [...runKeys, fingerprint],
    };
  }

  /** After the last record: published heads beyond it, an unproven newest run, or no keyed record at all. */
  finish(): ChainVerification {
    const lastSeq = this.nextSeq - 1;
    const beyond = Math.max(0, ...[...this.headsBySeq.keys()].filter((seq) => seq > lastSeq));
    if (beyond > 0) {
      return this.result({
        seq: lastSeq + 1,
        reason: `the store ends at record ${lastSeq}, but a head was published for record ${beyond}: the newest records, from ${lastSeq + 1} to ${beyond} at least, were deleted`,
      });
    }
    const awaiting = this.awaiting;
    if (awaiting !== undefined) {
      const one = awaiting.first === awaiting.last;
      return this.result({
        seq: awaiting.first,
        reason: `the newest ${range(awaiting.first, awaiting.last)} ${one ? 'is' : 'are'} under ${chainKeys(awaiting.keys)}, not configured here, and no record under a configured key follows: nothing proves ${one ? 'it was' : 'they were'} written by a broker (added to the database, or newer records deleted?); ${SET_OLD_KEY} ${one ? 'it' : 'them'}`,
      });
    }
    if (lastSeq > 0 && this.hashOnly === lastSeq) {
      return this.result({
        seq: lastSeq,
        reason: `no record is keyed: ${range(1, lastSeq)} ${lastSeq === 1 ? 'is' : 'are'} only hash-chained (plain SHA-256), which anyone can recompute: written before the chain was keyed (check it, then start the broker once with --key-legacy-audit), or rewritten without the chain key`,
      });
    }
    return this.result();
  }
}
