import type {
  AdminTokenRecord,
  AdminTokens,
  MetaSettings,
  PurgeBatch,
  ReplayCache,
  ReplayKey,
} from '../store/interfaces.js';
import { toTokenRecord, type TokenRow } from './rows.js';
import { execute, select, sql, type SqlDatabase } from './statement.js';

export class SqlReplayCache implements ReplayCache {
  constructor(private readonly database: SqlDatabase) {}

  purgeExpired(nowSeconds: number, window: number, after?: ReplayKey): Promise<PurgeBatch> {
    // The walk follows the primary key, so a batch deletes neighbours on a few pages. Jti hashes are random: in
    // expiry order nearly every deleted row was on a page of its own, each written out again per statement.
    const from =
      after === undefined ? sql`TRUE` : sql`(issuer, jti_sha256) > (${after.issuer}, ${after.jtiHash})`;
    const inKeyOrder = sql`FROM used_tokens WHERE ${from} ORDER BY issuer, jti_sha256`;
    return this.database.run('purging used tokens', function* () {
      const [last] = yield* select<{ issuer: string; jti_sha256: string }>(
        sql`SELECT issuer, jti_sha256 ${inKeyOrder} LIMIT 1 OFFSET ${window - 1}`,
      );
      // The window by its keys, not as a range up to `last`: PostgreSQL would read a row comparison's upper
      // bound as a filter and scan the rest of the key.
      const purged = yield* execute(
        sql`DELETE FROM used_tokens
            WHERE (issuer, jti_sha256) IN (SELECT issuer, jti_sha256 ${inKeyOrder} LIMIT ${window})
              AND expires_at < ${nowSeconds}`,
      );
      return {
        purged,
        // Without a last key fewer than `window` tokens followed `after`: this batch took them all.
        next: last === undefined ? undefined : { issuer: last.issuer, jtiHash: last.jti_sha256 },
      };
    });
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
