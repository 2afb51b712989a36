import type { EncryptedValue } from '../store/envelope.js';
import type { EncryptedSecretRecord, SecretRecords, SecretSummary } from '../store/interfaces.js';
import { currentInOrder, toSecretRecord, type VersionRow } from './rows.js';
import { nameRanges, type NameRange } from './name-ranges.js';
import { execute, join, raw, select, sql, type SqlDatabase } from './statement.js';

const VERSION_COLUMNS = sql`name, version, key_id, wrapped_key, nonce, ciphertext`;

const inRange = ({ from, to }: NameRange) =>
  to === undefined ? sql`name >= ${from}` : sql`(name >= ${from} AND name < ${to})`;

export class SqlSecretRecords implements SecretRecords {
  constructor(private readonly database: SqlDatabase) {}

  insertVersion(name: string, encrypt: (version: number) => EncryptedValue): Promise<number> {
    return this.database.transaction('storing a secret version', function* () {
      const now = new Date().toISOString();
      // The head row is the lock: concurrent writers of one name get consecutive versions.
      const [head] = yield* select<{ last_version: number }>(
        sql`INSERT INTO secret_heads (name, last_version, current_version, updated_at) VALUES (${name}, 1, 1, ${now})
            ON CONFLICT (name) DO UPDATE SET last_version = secret_heads.last_version + 1,
              current_version = secret_heads.last_version + 1, updated_at = excluded.updated_at
            RETURNING last_version`,
      );
      const version = (head as { last_version: number }).last_version;
      const encrypted = encrypt(version);
      yield* execute(
        sql`INSERT INTO secret_versions (name, version, key_id, wrapped_key, nonce, ciphertext, created_at)
            VALUES (${name}, ${version}, ${encrypted.keyId}, ${encrypted.wrappedKey}, ${encrypted.nonce},
                    ${encrypted.ciphertext}, ${now})`,
      );
      return version;
    });
  }

  nextVersion(name: string): Promise<number> {
    return this.database.run('reading a secret version', function* () {
      const [head] = yield* select<{ last_version: number }>(
        sql`SELECT last_version FROM secret_heads WHERE name = ${name}`,
      );
      return (head?.last_version ?? 0) + 1;
    });
  }

  current(names: readonly string[]): Promise<EncryptedSecretRecord[]> {
    if (names.length === 0) return Promise.resolve([]);
    const { dialect } = this.database;
    return this.database.run('reading secrets', function* () {
      // One statement for all names, not one per name.
      const rows = yield* select<VersionRow>(
        sql`SELECT v.name, v.version, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
            FROM secret_heads h JOIN secret_versions v ON v.name = h.name AND v.version = h.current_version
            WHERE ${dialect.oneOf('h.name', names)}`,
      );
      return currentInOrder(names, rows);
    });
  }

  currentNames(prefixes: readonly string[], limit?: number): Promise<string[]> {
    const ranges = nameRanges(prefixes);
    if (ranges.length === 0) return Promise.resolve([]);
    const atMost = limit === undefined ? raw('') : sql` LIMIT ${limit}`;
    return this.database.run('listing secrets', function* () {
      // One index range per prefix (no ORDER BY, which could make the planner walk the whole index instead).
      const rows = yield* select<{ name: string }>(
        sql`SELECT name FROM secret_heads
            WHERE current_version IS NOT NULL AND (${join(ranges.map(inRange), ' OR ')})${atMost}`,
      );
      return rows.map((row) => row.name).sort();
    });
  }

  list(prefix: string): Promise<SecretSummary[]> {
    return this.database.run('listing secrets', function* () {
      const rows = yield* select<{
        name: string;
        version: number;
        versions: number | string;
        updated_at: string;
      }>(
        sql`SELECT h.name, h.current_version AS version, h.updated_at,
                   (SELECT count(*) FROM secret_versions v WHERE v.name = h.name) AS versions
            FROM secret_heads h
            WHERE h.current_version IS NOT NULL AND substr(h.name, 1, length(${prefix})) = ${prefix}
            ORDER BY h.name`,
      );
      return rows.map((row) => ({
        name: row.name,
        version: row.version,
        versions: Number(row.versions),
        updatedAt: row.updated_at,
      }));
    });
  }

  delete(name: string): Promise<boolean> {
    return this.database.transaction('deleting a secret', function* () {
      const cleared = yield* execute(
        sql`UPDATE secret_heads SET current_version = NULL, updated_at = ${new Date().toISOString()}
            WHERE name = ${name} AND current_version IS NOT NULL`,
      );
      if (cleared === 0) return false;
      yield* execute(sql`DELETE FROM secret_versions WHERE name = ${name}`);
      return true;
    });
  }

  keyIdsInUse(): Promise<string[]> {
    return this.database.run('reading key ids', function* () {
      const rows = yield* select<{ key_id: string }>(sql`SELECT DISTINCT key_id FROM secret_versions`);
      return rows.map((row) => row.key_id);
    });
  }

  countNotUnder(keyId: string): Promise<{ total: number; remaining: number }> {
    return this.database.run('counting secret versions', function* () {
      const [counts] = yield* select<{ total: number | string; remaining: number | string }>(
        sql`SELECT count(*) AS total, count(*) FILTER (WHERE key_id <> ${keyId}) AS remaining FROM secret_versions`,
      );
      return { total: Number(counts?.total ?? 0), remaining: Number(counts?.remaining ?? 0) };
    });
  }

  listNotUnder(keyId: string, limit: number): Promise<EncryptedSecretRecord[]> {
    return this.database.run('reading secret versions', function* () {
      const rows = yield* select<VersionRow>(
        sql`SELECT ${VERSION_COLUMNS} FROM secret_versions WHERE key_id <> ${keyId} ORDER BY name, version LIMIT ${limit}`,
      );
      return rows.map(toSecretRecord);
    });
  }

  replaceEncryption(
    updates: readonly { record: EncryptedSecretRecord; fromKeyId: string }[],
  ): Promise<number> {
    return this.database.transaction('re-wrapping secret versions', function* () {
      let changed = 0;
      for (const { record, fromKeyId } of updates) {
        changed += yield* execute(
          sql`UPDATE secret_versions
              SET key_id = ${record.keyId}, wrapped_key = ${record.wrappedKey}, nonce = ${record.nonce},
                  ciphertext = ${record.ciphertext}
              WHERE name = ${record.name} AND version = ${record.version} AND key_id = ${fromKeyId}`,
        );
      }
      return changed;
    });
  }
}
