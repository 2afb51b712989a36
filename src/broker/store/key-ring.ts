import { derivedKey, type MasterKey } from './master-key.js';

export const INITIAL_KEY_VERSION = 1;

/**
 * Key-encryption keys derived from the master keys. A key id is "<master fingerprint>.v<version>", so a
 * rotation can move to a new master key or to a new version of the same one.
 */
export class KeyRing {
  private readonly masters: ReadonlyMap<string, MasterKey>;
  private readonly derived = new Map<string, Buffer>();
  private version: number;
  private fingerprintKeyCache: Buffer | undefined;

  constructor(
    private readonly current: MasterKey,
    old: readonly MasterKey[] = [],
    currentVersion = INITIAL_KEY_VERSION,
  ) {
    this.masters = new Map([...old, current].map((key) => [key.fingerprint, key]));
    this.version = currentVersion;
  }

  /** The key id new versions are written under. */
  get currentKeyId(): string {
    return keyId(this.current.fingerprint, this.version);
  }

  get currentVersion(): number {
    return this.version;
  }

  /** Moves new writes to another version of the current master key (rotation without a new master key). */
  useVersion(version: number): void {
    this.version = version;
  }

  /**
   * The key of value fingerprints (`secret versions`): derived from the current master key, so a fingerprint
   * cannot be checked against a guessed value without it. Versions stored under another master key have others.
   */
  get fingerprintKey(): Buffer {
    this.fingerprintKeyCache ??= derivedKey(this.current, 'secrets-broker value fingerprint v1');
    return this.fingerprintKeyCache;
  }

  /** The wrapping key for `id`, or undefined when no configured master key produced it. */
  wrappingKey(id: string): Buffer | undefined {
    const cached = this.derived.get(id);
    if (cached !== undefined) return cached;
    const parsed = parseKeyId(id);
    const master = parsed && this.masters.get(parsed.fingerprint);
    if (parsed === undefined || master === undefined) return undefined;
    const key = derivedKey(master, `secrets-broker kek v${parsed.version}`);
    this.derived.set(id, key);
    return key;
  }

  get fingerprints(): string[] {
    return [...this.masters.keys()];
  }
}

export function keyId(fingerprint: string, version: number): string {
  return `${fingerprint}.v${version}`;
}

export function parseKeyId(id: string): { fingerprint: string; version: number } | undefined {
  const match = /^([0-9a-f]{16})\.v([1-9][0-9]*)$/.exec(id);
  return match === null ? undefined : { fingerprint: match[1] as string, version: Number(match[2]) };
}
