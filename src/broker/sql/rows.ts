/** Table rows as both databases return them, and their mapping to the store's records. */
import type {
  AdminRole,
  AdminTokenRecord,
  AuditEntry,
  EncryptedSecretRecord,
  SecretConditions,
} from '../store/interfaces.js';

export interface VersionRow {
  name: string;
  version: number;
  key_id: string;
  wrapped_key: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
}

export function toSecretRecord(row: VersionRow): EncryptedSecretRecord {
  return {
    name: row.name,
    version: row.version,
    keyId: row.key_id,
    wrappedKey: row.wrapped_key,
    nonce: row.nonce,
    ciphertext: row.ciphertext,
  };
}

/** The current versions of `names` in the order asked for; names with no current version are left out. */
export function currentInOrder(
  names: readonly string[],
  rows: readonly VersionRow[],
): EncryptedSecretRecord[] {
  const byName = new Map(rows.map((row) => [row.name, row]));
  return names.flatMap((name) => {
    const row = byName.get(name);
    return row === undefined ? [] : [toSecretRecord(row)];
  });
}

/** A secret's conditions, as the head row holds them. */
export interface ConditionRow {
  expires_at: string | null;
  max_reads: number | null;
  max_reads_period: number | null;
  rotate_after_reads: number | null;
  description: string | null;
  owner: string | null;
}

/** The head columns of ConditionRow, to select with `h` as the head's alias. */
export const CONDITION_COLUMNS =
  'h.expires_at, h.max_reads, h.max_reads_period, h.rotate_after_reads, h.description, h.owner';

export function toConditions(row: ConditionRow): SecretConditions {
  return {
    expiresAt: row.expires_at ?? undefined,
    maxReads:
      row.max_reads === null || row.max_reads_period === null
        ? undefined
        : { count: row.max_reads, periodSeconds: row.max_reads_period },
    rotateAfterReads: row.rotate_after_reads ?? undefined,
    description: row.description ?? undefined,
    owner: row.owner ?? undefined,
  };
}

export interface TokenRow {
  id: string;
  label: string;
  role: AdminRole;
  token_hash: Buffer;
  created_at: string;
  revoked_at: string | null;
}

export function toTokenRecord(row: TokenRow): AdminTokenRecord {
  return {
    id: row.id,
    label: row.label,
    role: row.role,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    revokedAt: row.revoked_at ?? undefined,
  };
}

export interface AuditRow {
  /** A number in SQLite; PostgreSQL returns BIGINT as a string. */
  seq: number | string;
  record: string;
  prev_hash: string;
  hash: string;
}

export function toAuditEntry(row: AuditRow): AuditEntry {
  return { seq: Number(row.seq), record: row.record, prevHash: row.prev_hash, hash: row.hash };
}
