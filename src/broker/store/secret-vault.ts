import { CodedError } from '../../protocol/coded-error.js';
import { createHmac } from 'node:crypto';
import { decryptValue, DecryptionError, encryptValue } from './envelope.js';
import type {
  ConditionChanges,
  CountedReleases,
  EncryptedSecretRecord,
  FoundRecord,
  ReleaseOutcome,
  SecretHistory,
  SecretRecords,
  SecretSummary,
  TokenUse,
} from './interfaces.js';
import type { SecretReference } from '../../protocol/secret-names.js';
import type { KeyRing } from './key-ring.js';
import { MasterKeyError } from './master-key.js';
import { secretNameProblem } from '../../protocol/secret-names.js';
import { RUN_OUTPUT_PREFIX } from '../../protocol/wire-shapes.js';

export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

export type {
  ConditionChanges,
  CountedReleases,
  ReadBudget,
  ReleaseOutcome,
  SecretConditions,
  SecretHistory,
  SecretSummary,
  VersionSummary,
} from './interfaces.js';

/** A stored version found for a request: name, version, its secret's conditions; its value still encrypted. */
export type FoundSecret = FoundRecord;

/** Who stores a version: the admin token's id and label. */
export interface VersionAuthor {
  readonly tokenId: string;
  readonly label: string;
}

export interface PutOptions {
  readonly createdBy?: VersionAuthor;
  /** Condition changes stored with the version, in the same transaction. */
  readonly conditions?: ConditionChanges;
}

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
    // Entries under run/ are read from the run's outputs: a secret stored there could never be released.
    if (name.startsWith(RUN_OUTPUT_PREFIX))
      throw new SecretValueError(
        `"${name}" is under ${RUN_OUTPUT_PREFIX}, which is reserved for run outputs (jobs put them with put-outputs)`,
      );
  }

  static validateValue(value: string): void {
    if (value.length === 0) throw new SecretValueError('the value is empty');
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_SECRET_VALUE_BYTES) {
      throw new SecretValueError(`the value is ${bytes} bytes; the limit is ${MAX_SECRET_VALUE_BYTES}`);
    }
  }

  /** A value's fingerprint: HMAC-SHA256 under a key derived from the master key, first 12 hex digits. */
  fingerprint(value: string): string {
    return createHmac('sha256', this.keyRing.fingerprintKey).update(value, 'utf8').digest('hex').slice(0, 12);
  }

  async put(name: string, value: string, options: PutOptions = {}): Promise<number> {
    SecretVault.validateName(name);
    SecretVault.validateValue(value);
    const keyId = this.keyRing.currentKeyId;
    const wrappingKey = this.keyRing.wrappingKey(keyId) as Buffer;
    const plaintext = Buffer.from(value, 'utf8');
    try {
      return await this.records.insertVersion(
        name,
        (version) => encryptValue(plaintext, name, version, keyId, wrappingKey),
        {
          bytes: plaintext.length,
          fingerprint: this.fingerprint(value),
          createdBy: options.createdBy,
          ...(options.conditions === undefined ? {} : { conditions: options.conditions }),
        },
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

  list(prefix: string, now: Date = new Date()): Promise<SecretSummary[]> {
    return this.records.list(prefix, Math.floor(now.getTime() / 1000));
  }

  /** See SecretRecords.delete: history is kept unless `purge`. */
  delete(name: string, purge = false): Promise<boolean> {
    return this.records.delete(name, purge);
  }

  /** Changes a current secret's conditions without touching its value; false when it has no current version. */
  updateConditions(name: string, changes: ConditionChanges): Promise<boolean> {
    return this.records.updateConditions(name, changes);
  }

  /** See SecretRecords.history: the newest versions, at most `limit` (MAX_HISTORY_VERSIONS by default). */
  history(name: string, limit?: number): Promise<SecretHistory | undefined> {
    return this.records.history(name, limit);
  }

  /**
   * Stores the value of kept version `to` as a new version (which becomes current); returns its number, or
   * undefined when that version was never stored or was purged (nothing is stored then).
   */
  async rollback(name: string, to: number, createdBy?: VersionAuthor): Promise<number | undefined> {
    const record = await this.records.version(name, to);
    if (record === undefined) return undefined;
    const [opened] = this.openRecords([record]);
    return this.put(name, (opened as DecryptedSecret).value, createdBy === undefined ? {} : { createdBy });
  }

  /** How many current secrets expire within `seconds` after `now` (not those already expired). */
  countExpiring(now: Date, seconds: number): Promise<number> {
    return this.records.countExpiring(
      now.toISOString(),
      new Date(now.getTime() + seconds * 1000).toISOString(),
    );
  }

  /** The stored version each reference names (see SecretRecords.find); nothing is decrypted. */
  find(references: readonly SecretReference[]): Promise<FoundSecret[]> {
    return this.records.find(references);
  }

  /** The current version number of each of `names` that has one (no ciphertext is read), sorted by name. */
  async currentVersions(names: readonly string[]): Promise<{ name: string; version: number }[]> {
    const versions = await this.records.currentVersions(names);
    return versions.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Decrypts found versions, in order; one that does not open throws SecretIntegrityError. */
  open(found: readonly FoundSecret[]): DecryptedSecret[] {
    return this.openRecords(found.map((secret) => secret.encrypted));
  }

  /**
   * Records the token's use (`tokenUse`) and counts one read of each budgeted secret in its window of `now` and
   * one release of each version of a secret with rotateAfterReads, all in one transaction; if the token was used
   * before or any count would pass its limit, writes nothing and says why (see SecretRecords.recordReleases).
   */
  recordReleases(found: readonly FoundSecret[], now: Date, tokenUse?: TokenUse): Promise<ReleaseOutcome> {
    return this.records.recordReleases(found, Math.floor(now.getTime() / 1000), tokenUse);
  }

  /** Takes back what recordReleases counted, for an exchange that then released nothing. */
  undoReleases(counted: CountedReleases): Promise<void> {
    return this.records.undoReleases(counted);
  }

  /** The current version of each name that exists, decrypted. */
  async readCurrent(names: readonly string[]): Promise<DecryptedSecret[]> {
    return this.openRecords(await this.records.current(names));
  }

  private openRecords(records: readonly EncryptedSecretRecord[]): DecryptedSecret[] {
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
