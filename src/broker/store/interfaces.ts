/**
 * Storage behind small interfaces, so the embedded SQLite default and a shared database can both serve them.
 * Every method may fail with StoreUnavailableError; callers then release nothing.
 */
import { CodedError } from '../../protocol/coded-error.js';
import type { EncryptedValue } from './envelope.js';

export class StoreUnavailableError extends CodedError {
  readonly code: string = 'store_unavailable';
  override name = 'StoreUnavailableError';
}

export interface EncryptedSecretRecord extends EncryptedValue {
  readonly name: string;
  readonly version: number;
}

export interface SecretSummary {
  readonly name: string;
  readonly version: number;
  readonly versions: number;
  readonly updatedAt: string;
}

/** Encrypted secret versions. Versions of a name only grow, also across a delete. */
export interface SecretRecords {
  /** Stores a new version; `encrypt` receives the version number it gets, inside the same transaction. */
  insertVersion(name: string, encrypt: (version: number) => EncryptedValue): Promise<number>;
  nextVersion(name: string): Promise<number>;
  /** The current version of each name that exists. */
  current(names: readonly string[]): Promise<EncryptedSecretRecord[]>;
  /**
   * The names with a current version that start with one of `prefixes` (`['']`: every name), sorted, each once.
   * Reads only those names' range of the name index, however many others are stored, and at most `limit` of them.
   */
  currentNames(prefixes: readonly string[], limit?: number): Promise<string[]>;
  list(prefix: string): Promise<SecretSummary[]>;
  /** Removes every version of `name` (ciphertexts included); false when it did not exist. */
  delete(name: string): Promise<boolean>;
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

export interface PurgeBatch {
  readonly purged: number;
  readonly next: ReplayKey | undefined;
}

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

export interface Stores {
  readonly kind: 'sqlite' | 'postgres';
  readonly secrets: SecretRecords;
  readonly replay: ReplayCache;
  readonly audit: AuditRecords;
  readonly adminTokens: AdminTokens;
  readonly meta: MetaSettings;
  /** Cheap liveness probe of the database. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
