import type { AdminTokenRecord, AdminTokens, MetaSettings, ReplayCache } from '../store/interfaces.js';
import { toTokenRecord, type TokenRow } from './rows.js';
import { execute, select, sql, type SqlDatabase } from './statement.js';

export class SqlReplayCache implements ReplayCache {
  constructor(private readonly database: SqlDatabase) {}

  purgeExpired(nowSeconds: number): Promise<number> {
    return this.database.run('purging used tokens', () =>
      execute(sql`DELETE FROM used_tokens WHERE expires_at < ${nowSeconds}`),
    );
  }
}

export class SqlAdminTokens implements AdminTokens {
  constructor(private readonly database: SqlDatabase) {}

  find(id: string): Promise<AdminTokenRecord | undefined> {
    return this.database.run('reading admin tokens', function* () {
      const [row] = yield* select<TokenRow>(sql`SELECT * FROM admin_tokens WHERE id = ${id}`);
      return row === undefined ? undefined : toTokenRecord(row);
    });
  }

  insert(record: Omit<AdminTokenRecord, 'revokedAt'>): Promise<void> {
    return this.database.run('storing an admin token', function* () {
      yield* execute(
        sql`INSERT INTO admin_tokens (id, label, role, token_hash, created_at)
            VALUES (${record.id}, ${record.label}, ${record.role}, ${record.tokenHash}, ${record.createdAt})`,
      );
    });
  }

  count(): Promise<number> {
    return this.database.run('counting admin tokens', function* () {
      const [row] = yield* select<{ n: number | string }>(sql`SELECT count(*) AS n FROM admin_tokens`);
      return Number(row?.n ?? 0);
    });
  }

  list(): Promise<AdminTokenRecord[]> {
    return this.database.run('listing admin tokens', function* () {
      const rows = yield* select<TokenRow>(sql`SELECT * FROM admin_tokens ORDER BY created_at, id`);
      return rows.map(toTokenRecord);
    });
  }

  revoke(id: string, at: string): Promise<boolean> {
    return this.database.run('revoking an admin token', function* () {
      const changed = yield* execute(
        sql`UPDATE admin_tokens SET revoked_at = ${at} WHERE id = ${id} AND revoked_at IS NULL`,
      );
      return changed === 1;
    });
  }
}

export class SqlMetaSettings implements MetaSettings {
  constructor(private readonly database: SqlDatabase) {}

  get(key: string): Promise<string | undefined> {
    return this.database.run('reading settings', function* () {
      const [row] = yield* select<{ value: string }>(sql`SELECT value FROM meta WHERE key = ${key}`);
      return row?.value;
    });
  }

  set(key: string, value: string): Promise<void> {
    return this.database.run('writing settings', function* () {
      yield* execute(
        sql`INSERT INTO meta (key, value) VALUES (${key}, ${value})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      );
    });
  }
}
