import type { AuditEntry, AuditRecords } from '../store/interfaces.js';
import { GENESIS_HASH } from './audit-batcher.js';
import { contentDigest, LINK_PATTERN, parseLink, type AuditChainKeys } from './audit-chain-keys.js';
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
  const { keys, pageSize = 1000 } = options;
  const headsBySeq = new Map<number, string[]>();
  for (const head of options.heads ?? [])
    headsBySeq.set(head.seq, [...(headsBySeq.get(head.seq) ?? []), head.hash]);
  const unconfigured = new Map<string, { key: string; first: number; last: number; count: number }>();
  const headsMatched: number[] = [];
  let expectedPrev = GENESIS_HASH;
  let digest = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  let keyed = 0;
  let hashOnly = 0;
  let keyedFrom: ChainVerification['keyedFrom'] = null;
  /** The run of newest records under keys not configured here, waiting for a record under a configured key. */
  let awaiting: { first: number; last: number; keys: string[] } | undefined;
  let head: ChainHead | null = null;

  /** Without `brokenAt`, the walk got to the end: the last record is the last one walked. */
  const result = (problem?: { seq: number; reason: string }, brokenAt?: number): ChainVerification => ({
    ok: problem === undefined,
    checked,
    lastSeq: brokenAt ?? expectedSeq - 1,
    keyed,
    hashOnly,
    underUnconfiguredKey: [...unconfigured.values()],
    keyedFrom,
    head,
    headsMatched,
    ...(problem === undefined ? {} : { problem }),
  });

  for (;;) {
    const page: AuditEntry[] = await records.page(expectedSeq - 1, pageSize);
    if (page.length === 0) break;
    for (const entry of page) {
      const fail = (reason: string, seq = entry.seq) => result({ seq, reason }, seq);
      if (entry.seq !== expectedSeq) {
        return fail(
          `record ${expectedSeq}${entry.seq > expectedSeq + 1 ? `-${entry.seq - 1}` : ''} is missing (deleted)`,
          expectedSeq,
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
      const expectedDigest = contentDigest(digest, entry.record);
      if (link.kind === 'unkeyed') {
        if (checked > hashOnly) {
          return fail(
            `record ${entry.seq} is only hash-chained (plain SHA-256) after keyed records: written by someone without the chain key (or by a broker from before the keyed chain, still running on this database)`,
          );
        }
        if (link.digest !== expectedDigest)
          return fail(`record ${entry.seq} was edited (its content no longer matches its hash)`);
        hashOnly += 1;
      } else {
        if (link.digest !== expectedDigest) {
          // Records before it that no key proves can have been changed with their digests recomputed.
          const unproven =
            awaiting !== undefined
              ? `${range(awaiting.first, awaiting.last)} before it (under a key not configured here)`
              : checked === hashOnly && hashOnly > 0
                ? `${range(1, hashOnly)} before it (only hash-chained)`
                : undefined;
          return fail(
            unproven === undefined
              ? `record ${entry.seq} was edited (its content no longer matches its hash)`
              : `record ${entry.seq}, or one of ${unproven}, was edited: the content no longer matches record ${entry.seq}'s hash`,
          );
        }
        if (checked === hashOnly && hashOnly > 0) {
          if (!isChainKeyedRecord(entry.record, hashOnly)) {
            return fail(
              `${range(1, hashOnly)} ${hashOnly === 1 ? 'is' : 'are'} only hash-chained (plain SHA-256), and record ${entry.seq}, the first keyed one, is not the record a broker writes when it keys a chain from before this version: the chain was rewritten without the chain key, then written on`,
            );
          }
          keyedFrom = { seq: entry.seq, time: recordTime(entry.record) };
        }
        if (awaiting !== undefined && !link.checkedPrevious) {
          const [these, were] = awaiting.first === awaiting.last ? ['it', 'was'] : ['them', 'were'];
          return fail(
            `${range(awaiting.first, awaiting.last)} ${awaiting.first === awaiting.last ? 'is' : 'are'} under ${chainKeys(awaiting.keys)}, not configured here, and record ${entry.seq} was linked to ${these} by a broker that could not check ${these}: nothing proves ${these} ${were} written by a broker (inserted?); ${SET_OLD_KEY} ${these}`,
            awaiting.first,
          );
        }
        const verified = keys.verify(entry.hash);
        if (verified === false) {
          return fail(
            `record ${entry.seq}'s link is not the HMAC of chain key ${link.fingerprint}: forged (relinked by someone without the key)`,
          );
        }
        if (verified === true) {
          keyed += 1;
          awaiting = undefined;
        } else {
          const counted = unconfigured.get(link.fingerprint);
          if (counted === undefined)
            unconfigured.set(link.fingerprint, {
              key: link.fingerprint,
              first: entry.seq,
              last: entry.seq,
              count: 1,
            });
          else {
            counted.last = entry.seq;
            counted.count += 1;
          }
          const runKeys = awaiting?.keys ?? [];
          awaiting = {
            first: awaiting?.first ?? entry.seq,
            last: entry.seq,
            keys: runKeys.includes(link.fingerprint) ? runKeys : [...runKeys, link.fingerprint],
          };
        }
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
      digest = expectedDigest;
      expectedSeq += 1;
      checked += 1;
      head = { seq: entry.seq, hash: entry.hash };
    }
  }

  const lastSeq = expectedSeq - 1;
  const beyond = Math.max(0, ...[...headsBySeq.keys()].filter((seq) => seq > lastSeq));
  if (beyond > 0) {
    return result({
      seq: lastSeq + 1,
      reason: `the store ends at record ${lastSeq}, but a head was published for record ${beyond}: the newest records, from ${lastSeq + 1} to ${beyond} at least, were deleted`,
    });
  }
  if (awaiting !== undefined) {
    return result({
      seq: awaiting.first,
      reason: `the newest ${range(awaiting.first, awaiting.last)} ${awaiting.first === awaiting.last ? 'is' : 'are'} under ${chainKeys(awaiting.keys)}, not configured here, and no record under a configured key follows: nothing proves ${awaiting.first === awaiting.last ? 'it was' : 'they were'} written by a broker (added to the database, or newer records deleted?); ${SET_OLD_KEY} ${awaiting.first === awaiting.last ? 'it' : 'them'}`,
    });
  }
  if (lastSeq > 0 && hashOnly === lastSeq) {
    return result({
      seq: lastSeq,
      reason: `no record is keyed: ${range(1, lastSeq)} ${lastSeq === 1 ? 'is' : 'are'} only hash-chained (plain SHA-256), which anyone can recompute: written before the chain was keyed (check it, then start the broker once with --key-legacy-audit), or rewritten without the chain key`,
    });
  }
  return result();
}
