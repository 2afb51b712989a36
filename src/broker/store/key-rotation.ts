import { CodedError } from '../../protocol/coded-error.js';
import { decryptValue, DecryptionError, encryptValue } from './envelope.js';
import type { MetaSettings, SecretRecords } from './interfaces.js';
import type { KeyRing } from './key-ring.js';
import { SecretIntegrityError } from './secret-vault.js';

export const KEY_VERSION_SETTING = 'key_version';

export interface RotationStatus {
  readonly target_key_id: string;
  /** True when this call moved to a new version of the current master key. */
  readonly new_key_version: boolean;
  readonly total: number;
  readonly remaining: number;
}

export interface BatchResult {
  readonly target_key_id: string;
  readonly rewrapped: number;
  readonly total: number;
  readonly remaining: number;
}

export class RotationConflictError extends CodedError {
  readonly code: string = 'rotation_conflict';
  override name = 'RotationConflictError';
}

/**
 * Re-encrypts every stored version under the current key, in batches that each commit on their own, so a
 * rotation can stop anywhere and a rerun picks up what is left. With nothing left under an older key, a
 * rotation starts by moving to a new version of the current master key.
 */
export class KeyRotation {
  constructor(
    private readonly records: SecretRecords,
    private readonly keyRing: KeyRing,
    private readonly meta: MetaSettings,
  ) {}

  /** The key version to use at start: the one recorded by the last rotation, or the first. */
  static async storedVersion(meta: MetaSettings): Promise<number> {
    const stored = await meta.get(KEY_VERSION_SETTING);
    return stored === undefined ? 1 : Number(stored);
  }

  async begin(): Promise<RotationStatus> {
    let counts = await this.records.countNotUnder(this.keyRing.currentKeyId);
    let newKeyVersion = false;
    if (counts.remaining === 0) {
      const next = this.keyRing.currentVersion + 1;
      await this.meta.set(KEY_VERSION_SETTING, String(next));
      this.keyRing.useVersion(next);
      newKeyVersion = true;
      counts = await this.records.countNotUnder(this.keyRing.currentKeyId);
    }
    return { target_key_id: this.keyRing.currentKeyId, new_key_version: newKeyVersion, ...counts };
  }

  async batch(targetKeyId: string, size: number): Promise<BatchResult> {
    if (targetKeyId !== this.keyRing.currentKeyId) {
      throw new RotationConflictError(
        `the broker now writes under key id ${this.keyRing.currentKeyId}, not ${targetKeyId}; start the rotation again`,
      );
    }
    const wrappingKey = this.keyRing.wrappingKey(targetKeyId) as Buffer;
    const pending = await this.records.listNotUnder(targetKeyId, size);
    const updates = pending.map((record) => {
      const fromKey = this.keyRing.wrappingKey(record.keyId);
      if (fromKey === undefined) {
        throw new SecretIntegrityError(
          `secret "${record.name}" version ${record.version} is under key id ${record.keyId}, which no configured master key provides; set it as SECRETS_BROKER_MASTER_KEY_OLD`,
        );
      }
      let plaintext: Buffer;
      try {
        plaintext = decryptValue(record, record.name, record.version, fromKey);
      } catch (error) {
        if (!(error instanceof DecryptionError)) throw error;
        throw new SecretIntegrityError(
          `secret "${record.name}" version ${record.version} failed authentication; it was left as it is`,
        );
      }
      try {
        const encrypted = encryptValue(plaintext, record.name, record.version, targetKeyId, wrappingKey);
        return {
          record: { ...encrypted, name: record.name, version: record.version },
          fromKeyId: record.keyId,
        };
      } finally {
        plaintext.fill(0);
      }
    });
    const rewrapped = await this.records.replaceEncryption(updates);
    return { target_key_id: targetKeyId, rewrapped, ...(await this.records.countNotUnder(targetKeyId)) };
  }
}
