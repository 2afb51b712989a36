import { CodedError } from '../../protocol/coded-error.js';
import { decryptValue, DecryptionError, encryptValue } from './envelope.js';
import type { SecretRecords, SecretSummary } from './interfaces.js';
import type { KeyRing } from './key-ring.js';
import { MasterKeyError } from './master-key.js';
import { secretNameProblem } from '../../protocol/secret-names.js';

export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

export interface DecryptedSecret {
  readonly name: string;
  readonly version: number;
  readonly value: string;
}

export class SecretValueError extends CodedError {
  readonly code: string = 'secret_value_invalid';
  override name = 'SecretValueError';
}

/** A stored ciphertext that does not open: tampered with, moved between rows, or under a key we lack. */
export class SecretIntegrityError extends CodedError {
  readonly code: string = 'secret_integrity';
  override name = 'SecretIntegrityError';
}

/** Envelope encryption over any SecretRecords: values go in and out in clear here and nowhere else. */
export class SecretVault {
  constructor(
    private readonly records: SecretRecords,
    private readonly keyRing: KeyRing,
  ) {}

  /** Refuses to start with a master key that cannot open what the database holds. */
  async assertKeysAvailable(): Promise<void> {
    const missing = (await this.records.keyIdsInUse()).filter(
      (id) => this.keyRing.wrappingKey(id) === undefined,
    );
    if (missing.length === 0) return;
    throw new MasterKeyError(
      `the master key does not match this database: stored secrets are wrapped with key id ${missing.join(', ')}, ` +
        `but the configured key has fingerprint ${this.keyRing.fingerprints.join(' and ')}. ` +
        'Set SECRETS_BROKER_MASTER_KEY (or _FILE) to the key this database was created with; during a key ' +
        'rotation set the previous key as SECRETS_BROKER_MASTER_KEY_OLD.',
    );
  }

  static validateName(name: string): void {
    const problem = secretNameProblem(name);
    if (problem !== undefined) throw new SecretValueError(`"${name}" is not a valid secret name: ${problem}`);
  }

  static validateValue(value: string): void {
    if (value.length === 0) throw new SecretValueError('the value is empty');
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_SECRET_VALUE_BYTES) {
      throw new SecretValueError(`the value is ${bytes} bytes; the limit is ${MAX_SECRET_VALUE_BYTES}`);
    }
  }

  async put(name: string, value: string): Promise<number> {
    SecretVault.validateName(name);
    SecretVault.validateValue(value);
    const keyId = this.keyRing.currentKeyId;
    const wrappingKey = this.keyRing.wrappingKey(keyId) as Buffer;
    const plaintext = Buffer.from(value, 'utf8');
    try {
      return await this.records.insertVersion(name, (version) =>
        encryptValue(plaintext, name, version, keyId, wrappingKey),
      );
    } finally {
      plaintext.fill(0);
    }
  }

  nextVersion(name: string): Promise<number> {
    return this.records.nextVersion(name);
  }

  currentNames(prefixes: readonly string[], limit?: number): Promise<string[]> {
    return this.records.currentNames(prefixes, limit);
  }

  list(prefix: string): Promise<SecretSummary[]> {
    return this.records.list(prefix);
  }

  delete(name: string): Promise<boolean> {
    return this.records.delete(name);
  }

  /** The current version of each name that exists, decrypted. */
  async readCurrent(names: readonly string[]): Promise<DecryptedSecret[]> {
    const records = await this.records.current(names);
    return records.map((record) => {
      const wrappingKey = this.keyRing.wrappingKey(record.keyId);
      if (wrappingKey === undefined) {
        throw new SecretIntegrityError(
          `secret "${record.name}" version ${record.version} is wrapped with key id ${record.keyId}, which no configured master key provides`,
        );
      }
      let plaintext: Buffer;
      try {
        plaintext = decryptValue(record, record.name, record.version, wrappingKey);
      } catch (error) {
        if (!(error instanceof DecryptionError)) throw error;
        throw new SecretIntegrityError(
          `secret "${record.name}" version ${record.version} failed authentication: its ciphertext was altered or moved from another row`,
        );
      }
      const value = plaintext.toString('utf8');
      plaintext.fill(0);
      return { name: record.name, version: record.version, value };
    });
  }
}
