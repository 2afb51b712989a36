import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { derivedKey, type MasterKey } from '../store/master-key.js';
import { GENESIS_HASH } from './audit-batcher.js';

/** HKDF info of the chain key: distinct from the key-encryption keys' ("secrets-broker kek v<N>"). */
const CHAIN_KEY_INFO = 'secrets-broker audit chain v1';
/** Link tags: the writer checked the link before it, or could not (see AuditChainKeys.linkAfter). */
const CHECKED = 'hmac2';
const UNCHECKED = 'hmac2u';
const KEYED_LINK = /^(hmac2u?):([0-9a-f]{16}):([0-9a-f]{64}):([0-9a-f]{64})$/;
const UNKEYED_LINK = /^[0-9a-f]{64}$/;
/** A link in any form this broker writes or accepts (for parsing published heads). */
export const LINK_PATTERN = '[0-9a-f]{64}|hmac2u?:[0-9a-f]{16}:[0-9a-f]{64}:[0-9a-f]{64}';

/** What a stored hash says about how its link was made. */
export type ParsedLink =
  | {
      readonly kind: 'keyed';
      readonly fingerprint: string;
      /** The content digest of the chain up to and including this record. */
      readonly digest: string;
      /** False when its writer could not check the link before it (it did not hold that link's key). */
      readonly checkedPrevious: boolean;
    }
  /** A link of a chain written before it was keyed: the link is the content digest itself. */
  | { readonly kind: 'unkeyed'; readonly digest: string }
  | { readonly kind: 'unknown' };

export function parseLink(hash: string): ParsedLink {
  const keyed = KEYED_LINK.exec(hash);
  if (keyed !== null) {
    return {
      kind: 'keyed',
      fingerprint: keyed[2] as string,
      digest: keyed[3] as string,
      checkedPrevious: keyed[1] === CHECKED,
    };
  }
  return UNKEYED_LINK.test(hash) ? { kind: 'unkeyed', digest: hash } : { kind: 'unknown' };
}

/**
 * The running content digest: d_0 = GENESIS, d_n = SHA-256(d_{n-1}, newline, record_n). Exactly the link of a chain
 * written before it was keyed, so such a chain is already a digest chain.
 */
export function contentDigest(previousDigest: string, record: string): string {
  return createHash('sha256').update(previousDigest).update('\n').update(record).digest('hex');
}

/** A link of a chain written before it was keyed (kept for tools and tests that build one). */
export const unkeyedLink = contentDigest;

/** The content digest a link carries; a hash in no known form (verify fails there) is bound by its text. */
function digestOf(link: ParsedLink, hash: string): string {
  return link.kind === 'unknown' ? createHash('sha256').update(hash).digest('hex') : link.digest;
}

/** How the link before a new one was found: only a `verified` (or genesis) one is vouched for by the new link. */
export type PreviousLink = 'genesis' | 'verified' | 'invalid' | 'unconfigured' | 'unkeyed' | 'unknown';

/**
 * The audit chain's keys, one per configured master key (HKDF-SHA-256 of it), named by its fingerprint.
 *
 * A link is `hmac2:<fingerprint>:<d_n>:<HMAC-SHA-256(chain key, "hmac2:<fingerprint>:<d_n>")>`, where d_n is the
 * content digest of every record up to this one: so a link that verifies authenticates the content of the whole
 * chain before it, whatever the keys of the links in between. A writer that could not check the link it follows
 * (written under a key it does not hold, or not keyed) tags its own `hmac2u`, so it never vouches for a record
 * nobody checked. New links are made under the current master key's chain key; links under the old key
 * (SECRETS_BROKER_MASTER_KEY_OLD, during a rotation) still verify.
 */
export class AuditChainKeys {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentFingerprint: string;
  /** The newest link this writer made or verified: the next append usually follows it (saves one HMAC). */
  private trusted: string | undefined;

  constructor(current: MasterKey, old: readonly MasterKey[] = []) {
    this.currentFingerprint = current.fingerprint;
    this.keys = new Map(
      [...old, current].map((master) => [master.fingerprint, derivedKey(master, CHAIN_KEY_INFO)]),
    );
  }

  has(fingerprint: string): boolean {
    return this.keys.has(fingerprint);
  }

  /** The link of a new record after `prevHash`: the hash it is stored with (AuditRecords.append's hashFor). */
  readonly link = (prevHash: string, record: string): string => this.linkAfter(prevHash, record).hash;

  /** The link of a new record, and how the link it follows was found. */
  linkAfter(prevHash: string, record: string): { hash: string; previous: PreviousLink } {
    const before = parseLink(prevHash);
    const previous = this.check(prevHash, before);
    const tag = previous === 'genesis' || previous === 'verified' ? CHECKED : UNCHECKED;
    const digest = contentDigest(digestOf(before, prevHash), record);
    const fingerprint = this.currentFingerprint;
    const hash = `${tag}:${fingerprint}:${digest}:${this.mac(this.keys.get(fingerprint) as Buffer, tag, fingerprint, digest)}`;
    this.trusted = hash;
    return { hash, previous };
  }

  /** True when the keyed link `hash` was made with its key; undefined when that key is not configured. */
  verify(hash: string): boolean | undefined {
    const match = KEYED_LINK.exec(hash);
    if (match === null) return false;
    const [, tag, fingerprint, digest, mac] = match as unknown as [string, string, string, string, string];
    const key = this.keys.get(fingerprint);
    if (key === undefined) return undefined;
    const expected = Buffer.from(this.mac(key, tag, fingerprint, digest), 'hex');
    return timingSafeEqual(expected, Buffer.from(mac, 'hex'));
  }

  private check(prevHash: string, before: ParsedLink): PreviousLink {
    if (prevHash === GENESIS_HASH) return 'genesis';
    if (before.kind !== 'keyed') return before.kind;
    if (prevHash === this.trusted) return 'verified';
    const verified = this.verify(prevHash);
    if (verified === undefined) return 'unconfigured';
    if (!verified) return 'invalid';
    this.trusted = prevHash;
    return 'verified';
  }

  private mac(key: Buffer, tag: string, fingerprint: string, digest: string): string {
    return createHmac('sha256', key).update(`${tag}:${fingerprint}:${digest}`).digest('hex');
  }
}
