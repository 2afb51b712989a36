import type { EncryptedValue } from '../store/envelope.js';
import type { EncryptedSecretRecord, SecretRecords, SecretSummary } from '../store/interfaces.js';
import { query, transaction, type PostgresPool } from './database.js';
import { currentInOrder, toSecretRecord, type VersionRow } from '../store/rows.js';

export class PostgresSecretRecords implements SecretRecords {
  constructor(private readonly pool: PostgresPool) {}

  insertVersion(name: string, encrypt: (version: number) => EncryptedValue): Promise<number> {
    return transaction(this.pool, 'storing a secret version', async (client) => {
      const now = new Date().toISOString();
      // The head row is the lock: concurrent writers of one name get consecutive versions.
      const { rows } = await query<{ last_version: number }>(
        client,
        'storing a secret version',
        `INSERT INTO secret_heads (name, last_version, current_version, updated_at) VALUES ($1, 1, 1, $2)
         ON CONFLICT (name) DO UPDATE SET last_version = secret_heads.last_version + 1,
           current_version = secret_heads.last_version + 1, updated_at = $2
         RETURNING last_version`,
        [name, now],
      );
      const version = (rows[0] as { last_version: number }).last_version;
      const encrypted = encrypt(version);
      await query(
        client,
        'storing a secret version',
        `INSERT INTO secret_versions (name, version, key_id, wrapped_key, nonce, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [name, version, encrypted.keyId, encrypted.wrappedKey, encrypted.nonce, encrypted.ciphertext, now],
      );
      return version;
    });
  }

  async nextVersion(name: string): Promise<number> {
    const { rows } = await query<{ last_version: number }>(
      this.pool,
      'reading a secret version',
      'SELECT last_version FROM secret_heads WHERE name = $1',
      [name],
    );
    return (rows[0]?.last_version ?? 0) + 1;
  }

  async current(names: readonly string[]): Promise<EncryptedSecretRecord[]> {
    if (names.length === 0) return [];
    const { rows } = await query<VersionRow>(
      this.pool,
      'reading secrets',
      `SELECT v.name, v.version, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
       FROM secret_heads h JOIN secret_versions v ON v.name = h.name AND v.version = h.current_version
       WHERE h.name = ANY($1)`,
      [names],
    );
    return currentInOrder(names, rows);
  }

  async currentNames(): Promise<string[]> {
    const { rows } = await query<{ name: string }>(
      this.pool,
      'listing secrets',
      'SELECT name FROM secret_heads WHERE current_version IS NOT NULL ORDER BY name',
    );
    return rows.map((row) => row.name);
  }

  async list(prefix: string): Promise<SecretSummary[]> {
    const { rows } = await query<{ name: string; version: number; versions: string; updated_at: string }>(
      this.pool,
      'listing secrets',
      `SELECT h.name, h.current_version AS version, h.updated_at,
              (SELECT count(*) FROM secret_versions v WHERE v.name = h.name) AS versions
       FROM secret_heads h
       WHERE h.current_version IS NOT NULL AND left(h.name, length($1)) = $1
       ORDER BY h.name`,
      [prefix],
    );
    return rows.map((row) => ({
      name: row.name,
      version: row.version,
      versions: Number(row.versions),
      updatedAt: row.updated_at,
    }));
  }

  delete(name: string): Promise<boolean> {
    return transaction(this.pool, 'deleting a secret', async (client) => {
      const cleared = await query(
        client,
        'deleting a secret',
        'UPDATE secret_heads SET current_version = NULL, updated_at = $1 WHERE name = $2 AND current_version IS NOT NULL',
        [new Date().toISOString(), name],
      );
      if (cleared.rowCount === 0) return false;
      await query(client, 'deleting a secret', 'DELETE FROM secret_versions WHERE name = $1', [name]);
      return true;
    });
  }

  async keyIdsInUse(): Promise<string[]> {
    const { rows } = await query<{ key_id: string }>(
      this.pool,
      'reading key ids',
      'SELECT DISTINCT key_id FROM secret_versions',
    );
    return rows.map((row) => row.key_id);
  }

  async countNotUnder(keyId: string): Promise<{ total: number; remaining: number }> {
    const { rows } = await query<{ total: string; remaining: string }>(
      this.pool,
      'counting secret versions',
      'SELECT count(*) AS total, count(*) FILTER (WHERE key_id <> $1) AS remaining FROM secret_versions',
      [keyId],
    );
    return { total: Number(rows[0]?.total ?? 0), remaining: Number(rows[0]?.remaining ?? 0) };
  }

  async listNotUnder(keyId: string, limit: number): Promise<EncryptedSecretRecord[]> {
    const { rows } = await query<VersionRow>(
      this.pool,
      'reading secret versions',
      `SELECT name, version, key_id, wrapped_key, nonce, ciphertext FROM secret_versions
       WHERE key_id <> $1 ORDER BY name, version LIMIT $2`,
      [keyId, limit],
    );
    return rows.map(toSecretRecord);
  }

  replaceEncryption(
    updates: readonly { record: EncryptedSecretRecord; fromKeyId: string }[],
  ): Promise<number> {
    return transaction(this.pool, 're-wrapping secret versions', async (client) => {
      let changed = 0;
      for (const { record, fromKeyId } of updates) {
        const result = await query(
          client,
          're-wrapping secret versions',
          `UPDATE secret_versions SET key_id = $1, wrapped_key = $2, nonce = $3, ciphertext = $4
           WHERE name = $5 AND version = $6 AND key_id = $7`,
          [
            record.keyId,
            record.wrappedKey,
            record.nonce,
            record.ciphertext,
            record.name,
            record.version,
            fromKeyId,
          ],
        );
        changed += result.rowCount ?? 0;
      }
      return changed;
    });
  }
}
