/**
 * Storage behind small interfaces, so the embedded SQLite default and a shared database can both serve them.
 * Every method may fail with StoreUnavailableError; callers then release nothing.
 */
import { CodedError } from '../../protocol/coded-error.js';
import type { SecretReference } from '../../protocol/secret-names.js';
import type { EncryptedValue } from './envelope.js';

export class StoreUnavailableError extends CodedError {
  readonly code: string = 'store_unavailable';
  override name = 'StoreUnavailableError';
}

export interface EncryptedSecretRecord extends EncryptedValue {
  readonly name: string;
  readonly version: number;
}

/** A read budget: at most `count` releases of a secret in each window of `periodSeconds` (floor(now/period)). */
export interface ReadBudget {
  readonly count: number;
  readonly periodSeconds: number;
}

/** What an admin set on a secret NAME (not per version); undefined: not set. */
export interface SecretConditions {
  /** ISO 8601 UTC; from then on the secret is not released. */
  readonly expiresAt: string | undefined;
  readonly maxReads: ReadBudget | undefined;
  /** Releases of a version (each version counted on its own) after which that version is refused. */
  readonly rotateAfterReads: number | undefined;
  readonly description: string | undefined;
  readonly owner: string | undefined;
}

/** A change of conditions: a key left out keeps its value, null clears it. */
export type ConditionChanges = {
  readonly [K in keyof SecretConditions]?: Exclude<SecretConditions[K], undefined> | null;
};

export interface SecretSummary {
  readonly name: string;
  readonly version: number;
  readonly versions: number;
  readonly updatedAt: string;
  readonly conditions: SecretConditions;
  /** Releases of the current version counted so far (counted only while rotateAfterReads is set). */
  readonly releases: number;
  /** Reads counted in the read budget's current window (0 without a budget). */
  readonly readsInWindow: number;
}

/** A stored version as `secret versions` lists it: never its value. */
export interface VersionSummary {
  readonly version: number;
  readonly createdAt: string;
  /** UTF-8 bytes of the value; undefined for versions stored before the length was kept. */
  readonly bytes: number | undefined;
  /** Keyed fingerprint of the value (see SecretVault.fingerprint); undefined for versions stored before it. */
  readonly fingerprint: string | undefined;
  /** Who stored it: the admin token's id and label; undefined when not known (older versions, dev seeding). */
  readonly createdBy: { readonly tokenId: string; readonly label: string } | undefined;
  readonly current: boolean;
}

/** The versions kept of a name, newest first; undefined when no version of it was ever stored. */
export interface SecretHistory {
  readonly name: string;
  /** Undefined once the name is deleted. */
  readonly currentVersion: number | undefined;
  readonly lastVersion: number;
  /** The newest `limit` versions kept (see SecretRecords.history). */
  readonly versions: readonly VersionSummary[];
  /** True when older versions are kept than `versions` holds. */
  readonly more: boolean;
}

/** Versions `secret versions` reads at most: a name set a million times must not make one answer that large. */
export const MAX_HISTORY_VERSIONS = 1000;

/** What is kept with a new version besides its ciphertext. */
export interface VersionDetails {
  readonly bytes: number;
  readonly fingerprint: string;
  readonly createdBy: { readonly tokenId: string; readonly label: string } | undefined;
  /** Condition changes applied to the name in the same transaction. */
  readonly conditions?: ConditionChanges;
}

/** A stored version found for a request (see SecretVault.find), its value still encrypted. */
export interface FoundRecord {
  readonly name: string;
  readonly version: number;
  readonly isCurrent: boolean;
  readonly conditions: SecretConditions;
  /** Releases of this version counted so far. */
  readonly releases: number;
  readonly encrypted: EncryptedSecretRecord;
}

/** What one recordReleases call counted: what undoReleases takes back when the exchange then released nothing. */
export interface CountedReleases {
  readonly versions: readonly { readonly name: string; readonly version: number }[];
  readonly windows: readonly { readonly name: string; readonly windowStart: number }[];
}

/**
 * What recordReleases came to. Released: `counted` is what it counted, with the token's use recorded in the same
 * transaction; undefined when there was nothing to count (the token was not recorded then). Refused: nothing was
 * written, the token's use neither; `token_replayed` when the token was recorded as used before.
 */
export type ReleaseOutcome =
  | { readonly refused: undefined; readonly counted: CountedReleases | undefined }
  | { readonly refused: 'token_replayed' }
  | { readonly refused: 'read_budget_exhausted'; readonly name: string; readonly retryAfterSeconds: number }
  | { readonly refused: 'rotation_required'; readonly name: string; readonly version: number };

/** Encrypted secret versions. Versions of a name only grow, also across a delete. */
export interface SecretRecords {
  /**
   * Stores a new version, which becomes current; `encrypt` receives the version number it gets, inside the same
   * transaction. Condition changes in `details` apply in that transaction too.
   */
  insertVersion(
    name: string,
    encrypt: (version: number) => EncryptedValue,
    details: VersionDetails,
  ): Promise<number>;
  nextVersion(name: string): Promise<number>;
  /** The current version of each name that exists. */
  current(names: readonly string[]): Promise<EncryptedSecretRecord[]>;
  /**
   * One per reference that is stored, in the order asked: the current version for version undefined, else that
   * version if kept. A deleted name has none (its kept versions are history, not released). One statement.
   */
  find(references: readonly SecretReference[]): Promise<FoundRecord[]>;
  /**
   * In one transaction: the token's single use (`tokenUse`, the row AuditRecords.append would otherwise write),
   * one read of each budgeted name in its window, one release of each version (current or older) of a name with
   * rotateAfterReads. A name's read, and a version's release, count once per call. If the token was used before
   * or any count would pass its limit, writes nothing and says why. With nothing to count, writes nothing (the
   * token's use included) and answers at once. Transactions that count or delete take their rows in one order:
   * used_tokens, then secret_versions, then secret_read_windows, each by name (and version): none can deadlock.
   */
  recordReleases(
    found: readonly FoundRecord[],
    nowSeconds: number,
    tokenUse?: TokenUse,
  ): Promise<ReleaseOutcome>;
  /**
   * Takes back what recordReleases counted, for an exchange that then released nothing (a version that did not
   * open, a sealing or audit failure). The token's use stays recorded. A count already gone (its window purged)
   * is left as it is.
   */
  undoReleases(counted: CountedReleases): Promise<void>;
  /** Changes the conditions of a name with a current version; false when it has none. */
  updateConditions(name: string, changes: ConditionChanges): Promise<boolean>;
  /**
   * The newest `limit` (MAX_HISTORY_VERSIONS by default) versions kept of `name`, newest first, and whether older
   * ones are kept; undefined when no version of it was ever stored.
   */
  history(name: string, limit?: number): Promise<SecretHistory | undefined>;
  /** One kept version, encrypted; undefined when it was never stored or was purged. */
  version(name: string, version: number): Promise<EncryptedSecretRecord | undefined>;
  /** How many current secrets expire in [from, until) (ISO times). */
  countExpiring(from: string, until: string): Promise<number>;
  /**
   * The names with a current version that start with one of `prefixes` (`['']`: every name), sorted, each once.
   * Reads only those names' range of the name index, however many others are stored, and at most `limit` of them.
   */
  currentNames(prefixes: readonly string[], limit?: number): Promise<string[]>;
  /** The current version of each of `names` that has one, in no particular order: numbers only, no ciphertext. */
  currentVersions(names: readonly string[]): Promise<{ name: string; version: number }[]>;
  /** The current secrets under `prefix`, sorted; read windows are judged at `nowSeconds`. */
  list(prefix: string, nowSeconds?: number): Promise<SecretSummary[]>;
  /**
   * Deletes `name`: it has no current version any more (not released, not listed), its conditions and read
   * windows are cleared; its versions are kept as history unless `purge`, which removes every version's row
   * (ciphertext and wrapped data key), then has the database clear their bytes from its files where it can (see
   * SqlDatabase.clearDeleted). The head stays, so version numbers only grow. False when there was nothing to
   * delete (no current version, and with `purge` no kept version either).
   */
  delete(name: string, purge: boolean): Promise<boolean>;
  keyIdsInUse(): Promise<string[]>;
  /** How many versions exist, and how many are not under `keyId`. */
  countNotUnder(keyId: string): Promise<{ total: number; remaining: number }>;
  /** Up to `limit` versions not under `keyId`. */
  listNotUnder(keyId: string, limit: number): Promise<EncryptedSecretRecord[]>;
  /** Replaces versions' encryption in one transaction, each only if it is still under `fromKeyId`. */
  replaceEncryption(
    updates: readonly { record: EncryptedSecretRecord; fromKeyId: string }[],
  ): Promise<number>;
}

/** Small settings kept with the data (the current key version). */
export interface MetaSettings {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** One use of an OIDC token: `(issuer, jti)`, remembered until the token can no longer be accepted. */
export interface TokenUse {
  readonly issuer: string;
  readonly jtiHash: string;
  readonly expiresAtSeconds: number;
}

/** The token was used before: nothing was written. */
export class TokenAlreadyUsedError extends CodedError {
  readonly code: string = 'token_already_used';
  override name = 'TokenAlreadyUsedError';
}

/** Used tokens are recorded with the audit record of their exchange (AuditRecords.append); this purges them. */
export interface ReplayCache {
  /**
   * One batch of a purge that walks the used tokens in key order: looks at the next `window` of them after
   * `after` (from the first when undefined) and forgets those that expired before `nowSeconds`. Returns how many
   * it forgot and where the next batch starts, undefined once the walk reached the end. ReplayPurger runs the
   * batches one by one, so however many tokens expired no statement holds the event loop or the write lock long.
   */
  purgeExpired(nowSeconds: number, window: number, after?: ReplayKey): Promise<PurgeBatch>;
}

/** A used token's key: a purge's walk resumes after one. */
export interface ReplayKey {
  readonly issuer: string;
  readonly jtiHash: string;
}

export type PurgeBatch = PurgeBatchOf<ReplayKey>;

export interface AuditEntry {
  readonly seq: number;
  readonly record: string;
  readonly prevHash: string;
  readonly hash: string;
}

/** Filters for audit queries; every one set must hold. Times are ISO 8601 strings. */
export interface AuditFilter {
  readonly since?: string;
  readonly until?: string;
  readonly kind?: string;
  readonly outcome?: string;
  readonly repository?: string;
  /** Requested (also as optional or pattern entry text), released, or the target of an admin call. */
  readonly secret?: string;
  readonly rule?: string;
  readonly requestId?: string;
}

/** The audit trail's storage: an append-only chain of records, each linked to the one before by its hash. */
export interface AuditRecords {
  /** Entries matching `filter` after `afterSeq`, in sequence order, at most `limit`. */
  query(filter: AuditFilter, afterSeq: number, limit: number): Promise<AuditEntry[]>;
  /**
   * Appends in one transaction with the chain's head; `hashFor` computes the new hash from the previous one.
   * With `tokenUse`, the token is recorded as used in the same transaction, so an exchange and its token's
   * single use commit together; a token used before throws TokenAlreadyUsedError and nothing is written.
   */
  append(
    record: string,
    hashFor: (prevHash: string, record: string) => string,
    tokenUse?: TokenUse,
  ): Promise<AuditEntry>;
  /** Entries in sequence order, starting after `afterSeq`. */
  page(afterSeq: number, limit: number): Promise<AuditEntry[]>;
  /** The newest entry's sequence number and hash (the chain's head), or undefined for an empty log. */
  head(): Promise<{ seq: number; hash: string } | undefined>;
}

export type AdminRole = 'owner' | 'admin' | 'auditor';

export interface AdminTokenRecord {
  readonly id: string;
  readonly label: string;
  readonly role: AdminRole;
  readonly tokenHash: Buffer;
  readonly createdAt: string;
  readonly revokedAt: string | undefined;
}

export interface AdminTokens {
  find(id: string): Promise<AdminTokenRecord | undefined>;
  insert(record: Omit<AdminTokenRecord, 'revokedAt'>): Promise<void>;
  count(): Promise<number>;
  list(): Promise<AdminTokenRecord[]>;
  /** Marks a token revoked; false when there is no such unrevoked token. */
  revoke(id: string, at: string): Promise<boolean>;
}

/** A run-output key pair as stored: the private key wrapped under a master key (EncryptedValue's keyId). */
export interface StoredOutputKey {
  readonly keyId: string;
  readonly publicKey: Buffer;
  readonly wrapped: EncryptedValue;
  readonly createdAt: string;
}

/** One output to store: still sealed to the run-output key `keyId`. */
export interface OutputRow {
  /** The entry name, with its `run/` prefix. */
  readonly name: string;
  readonly keyId: string;
  readonly sealed: Buffer;
  readonly expiresAtSeconds: number;
}

/** Who put outputs, where, and when: kept with each output. */
export interface OutputPut {
  readonly issuer: string;
  readonly run: string;
  readonly requestId: string;
  /** JSON of the putter's identity (repository or project, workflow, subject). */
  readonly putter: string;
  readonly createdAt: string;
  readonly outputs: readonly OutputRow[];
}

/**
 * What a put came to. Stored: `versions` per name (1, or one more than the output it replaced). Refused, writing
 * nothing (the token's use neither): `token_replayed`, or `key_dropped` naming the keys no longer stored.
 */
export type OutputPutOutcome =
  | { readonly refused: undefined; readonly versions: ReadonlyMap<string, number> }
  | { readonly refused: 'token_replayed' }
  | { readonly refused: 'key_dropped'; readonly keyIds: readonly string[] };

/** A stored output found for an exchange: sealed to a key that is still stored. */
export interface FoundOutput {
  readonly name: string;
  readonly version: number;
  readonly keyId: string;
  readonly sealed: Buffer;
  readonly requestId: string;
}

/** An output's key: a purge's walk resumes after one. */
export interface OutputKey {
  readonly issuer: string;
  readonly run: string;
  readonly name: string;
}

/** Cross-job outputs and the run-output keys they are sealed to. */
export interface RunOutputRecords {
  /** Every stored key pair, oldest first. */
  keys(): Promise<StoredOutputKey[]>;
  /** The current key's id (the meta row), or undefined before the first start made one. */
  currentKeyId(): Promise<string | undefined>;
  /**
   * Stores `key`; makes it current when `makeCurrent` or when no key is current yet (replicas starting at once:
   * the first to commit wins, the others' keys stay stored, unused). Returns the current key id after.
   */
  addKey(key: StoredOutputKey, makeCurrent: boolean): Promise<string>;
  /** Replaces a key's wrapping (a master key rotation), only if it is still under `fromWrapKeyId`. */
  rewrapKey(keyId: string, wrapped: EncryptedValue, fromWrapKeyId: string): Promise<void>;
  /**
   * Deletes every key but the current one, and every output sealed to a deleted key, in one transaction; then
   * clears their bytes where the database can (SqlDatabase.clearDeleted). Returns what it deleted.
   */
  dropOldKeys(): Promise<{ keyIds: string[]; outputs: number }>;
  /**
   * In one transaction: checks every output's key is stored (held against a concurrent drop), records the token's
   * use, and stores the outputs, each replacing the output of the same issuer, run and name.
   */
  put(put: OutputPut, tokenUse: TokenUse | undefined): Promise<OutputPutOutcome>;
  /** The unexpired outputs of `names` put in `run` of `issuer`, sealed to keys still stored. One statement. */
  find(issuer: string, run: string, names: readonly string[], nowSeconds: number): Promise<FoundOutput[]>;
  /** One batch of the purge of expired outputs, as ReplayCache.purgeExpired walks used tokens. */
  purgeExpired(nowSeconds: number, window: number, after?: OutputKey): Promise<PurgeBatchOf<OutputKey>>;
}

export interface PurgeBatchOf<Key> {
  readonly purged: number;
  readonly next: Key | undefined;
}

export interface Stores {
  readonly kind: 'sqlite' | 'postgres';
  readonly secrets: SecretRecords;
  readonly outputs: RunOutputRecords;
  readonly replay: ReplayCache;
  readonly audit: AuditRecords;
  readonly adminTokens: AdminTokens;
  readonly meta: MetaSettings;
  /** Cheap liveness probe of the database. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
