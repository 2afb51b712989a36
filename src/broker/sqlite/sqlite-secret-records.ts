import type { EncryptedValue } from '../store/envelope.js';
import type { EncryptedSecretRecord, SecretRecords, SecretSummary } from '../store/interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';
import { currentInOrder, toSecretRecord, type VersionRow } from '../store/rows.js';

export class SqliteSecretRecords implements SecretRecords {
  private readonly statements;

  constructor(private readonly database: SqliteDatabase) {
    this.statements = {
      lastVersion: database.prepare<[string], { last_version: number }>(
        'SELECT last_version FROM secret_heads WHERE name = ?',
      ),
      upsertHead: database.prepare<[{ name: string; version: number; now: string }]>(
        `INSERT INTO secret_heads (name, last_version, current_version, updated_at) VALUES (@name, @version, @version, @now)
         ON CONFLICT (name) DO UPDATE SET last_version = @version, current_version = @version, updated_at = @now`,
      ),
      insertVersion: database.prepare<[string, number, string, Buffer, Buffer, Buffer, string]>(
        `INSERT INTO secret_versions (name, version, key_id, wrapped_key, nonce, ciphertext, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      // One statement for all names (a JSON array), not one per name.
      current: database.prepare<[string], VersionRow>(
        `SELECT v.name, v.version, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
         FROM secret_heads h JOIN secret_versions v ON v.name = h.name AND v.version = h.current_version
         WHERE h.name IN (SELECT value FROM json_each(?))`,
      ),
      currentNames: database.prepare<[], { name: string }>(
        'SELECT name FROM secret_heads WHERE current_version IS NOT NULL ORDER BY name',
      ),
      list: database.prepare<
        [{ prefix: string }],
        { name: string; version: number; versions: number; updated_at: string }
      >(
        `SELECT h.name, h.current_version AS version, h.updated_at,
                (SELECT count(*) FROM secret_versions v WHERE v.name = h.name) AS versions
         FROM secret_heads h
         WHERE h.current_version IS NOT NULL AND substr(h.name, 1, length(@prefix)) = @prefix
         ORDER BY h.name`,
      ),
      deleteVersions: database.prepare<[string]>('DELETE FROM secret_versions WHERE name = ?'),
      clearHead: database.prepare<[string, string]>(
        'UPDATE secret_heads SET current_version = NULL, updated_at = ? WHERE name = ? AND current_version IS NOT NULL',
      ),
      keyIds: database.prepare<[], { key_id: string }>('SELECT DISTINCT key_id FROM secret_versions'),
      countNotUnder: database.prepare<[string], { total: number; remaining: number }>(
        'SELECT count(*) AS total, coalesce(sum(key_id <> ?), 0) AS remaining FROM secret_versions',
      ),
      listNotUnder: database.prepare<[string, number], VersionRow>(
        `SELECT name, version, key_id, wrapped_key, nonce, ciphertext FROM secret_versions
         WHERE key_id <> ? ORDER BY name, version LIMIT ?`,
      ),
      replace: database.prepare<[string, Buffer, Buffer, Buffer, string, number, string]>(
        `UPDATE secret_versions SET key_id = ?, wrapped_key = ?, nonce = ?, ciphertext = ?
         WHERE name = ? AND version = ? AND key_id = ?`,
      ),
    };
  }

  insertVersion(name: string, encrypt: (version: number) => EncryptedValue): Promise<number> {
    return guarded('storing a secret version', () =>
      this.database
        .transaction(() => {
          const version = (this.statements.lastVersion.get(name)?.last_version ?? 0) + 1;
          const encrypted = encrypt(version);
          const now = new Date().toISOString();
          this.statements.insertVersion.run(
            name,
            version,
            encrypted.keyId,
            encrypted.wrappedKey,
            encrypted.nonce,
            encrypted.ciphertext,
            now,
          );
          this.statements.upsertHead.run({ name, version, now });
          return version;
        })
        .immediate(),
    );
  }

  nextVersion(name: string): Promise<number> {
    return guarded(
      'reading a secret version',
      () => (this.statements.lastVersion.get(name)?.last_version ?? 0) + 1,
    );
  }

  current(names: readonly string[]): Promise<EncryptedSecretRecord[]> {
    if (names.length === 0) return Promise.resolve([]);
    return guarded('reading secrets', () =>
      currentInOrder(names, this.statements.current.all(JSON.stringify(names))),
    );
  }

  countNotUnder(keyId: string): Promise<{ total: number; remaining: number }> {
    return guarded(
      'counting secret versions',
      () => this.statements.countNotUnder.get(keyId) ?? { total: 0, remaining: 0 },
    );
  }

  listNotUnder(keyId: string, limit: number): Promise<EncryptedSecretRecord[]> {
    return guarded('reading secret versions', () =>
      this.statements.listNotUnder.all(keyId, limit).map(toSecretRecord),
    );
  }

  replaceEncryption(
    updates: readonly { record: EncryptedSecretRecord; fromKeyId: string }[],
  ): Promise<number> {
    return guarded('re-wrapping secret versions', () =>
      this.database
        .transaction(() => {
          let changed = 0;
          for (const { record, fromKeyId } of updates) {
            changed += this.statements.replace.run(
              record.keyId,
              record.wrappedKey,
              record.nonce,
              record.ciphertext,
              record.name,
              record.version,
              fromKeyId,
            ).changes;
          }
          return changed;
        })
        .immediate(),
    );
  }

  currentNames(): Promise<string[]> {
    return guarded('listing secrets', () => this.statements.currentNames.all().map((row) => row.name));
  }

  list(prefix: string): Promise<SecretSummary[]> {
    return guarded('listing secrets', () =>
      this.statements.list.all({ prefix }).map((row) => ({
        name: row.name,
        version: row.version,
        versions: row.versions,
        updatedAt: row.updated_at,
      })),
    );
  }

  delete(name: string): Promise<boolean> {
    return guarded('deleting a secret', () =>
      this.database
        .transaction(() => {
          const cleared = this.statements.clearHead.run(new Date().toISOString(), name).changes > 0;
          if (cleared) this.statements.deleteVersions.run(name);
          return cleared;
        })
        .immediate(),
    );
  }

  keyIdsInUse(): Promise<string[]> {
    return guarded('reading key ids', () => this.statements.keyIds.all().map((row) => row.key_id));
  }
}
