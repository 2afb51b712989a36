import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../store/master-key.js';

/** HKDF info of the chain key: distinct from the key-encryption keys' ("secrets-broker kek v<N>"). */
const CHAIN_KEY_INFO = 'secrets-broker audit chain v1';
const KEYED_LINK = /^hmac1:([0-9a-f]{16}):([0-9a-f]{64})$/;
const UNKEYED_LINK = /^[0-9a-f]{64}$/;

/** What a stored hash says about how its link was made. */
export type ParsedLink =
  | { readonly kind: 'keyed'; readonly fingerprint: string }
  | { readonly kind: 'unkeyed' }
  | { readonly kind: 'unknown' };

export function parseLink(hash: string): ParsedLink {
  const keyed = KEYED_LINK.exec(hash);
  if (keyed !== null) return { kind: 'keyed', fingerprint: keyed[1] as string };
  return UNKEYED_LINK.test(hash) ? { kind: 'unkeyed' } : { kind: 'unknown' };
}

/** A link of a chain written before it was keyed: SHA-256(previous hash, newline, record). */
export function unkeyedLink(prevHash: string, record: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(record).digest('hex');
}

function keyedLink(fingerprint: string, key: Buffer, prevHash: string, record: string): string {
  const mac = createHmac('sha256', key).update(prevHash).update('\n').update(record).digest('hex');
  return `hmac1:${fingerprint}:${mac}`;
}

/**
 * The audit chain's keys, one per configured master key (HKDF-SHA-256 of it), named by its fingerprint. New links
 * are `hmac1:<fingerprint>:<HMAC-SHA-256(previous hash, newline, record)>` under the current master key's chain
 * key; links under the old key (SECRETS_BROKER_MASTER_KEY_OLD, during a rotation) still verify.
 */
export class AuditChainKeys {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentFingerprint: string;

  constructor(current: MasterKey, old: readonly MasterKey[] = []) {
    this.currentFingerprint = current.fingerprint;
    this.keys = new Map(
      [...old, current].map((master) => [
        master.fingerprint,
        Buffer.from(hkdfSync('sha256', master.material, Buffer.alloc(0), CHAIN_KEY_INFO, 32)),
      ]),
    );
  }

  /** Fingerprints of the old master keys configured next to the current one. */
  get retiredFingerprints(): string[] {
    return [...this.keys.keys()].filter((fingerprint) => fingerprint !== this.currentFingerprint);
  }

  has(fingerprint: string): boolean {
    return this.keys.has(fingerprint);
  }

  /** The link of a new record: the hash it is stored with. */
  readonly link = (prevHash: string, record: string): string =>
    keyedLink(this.currentFingerprint, this.keys.get(this.currentFingerprint) as Buffer, prevHash, record);

  /** True when `hash` is the keyed link of `record` after `prevHash`; undefined when its key is not configured. */
  verify(fingerprint: string, prevHash: string, record: string, hash: string): boolean | undefined {
    const key = this.keys.get(fingerprint);
    if (key === undefined) return undefined;
    const expected = Buffer.from(keyedLink(fingerprint, key, prevHash, record));
    const actual = Buffer.from(hash);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}
