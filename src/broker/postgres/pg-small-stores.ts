import type { AdminTokenRecord, AdminTokens, MetaSettings, ReplayCache } from '../store/interfaces.js';
import { query, type PostgresPool } from './database.js';
import { toTokenRecord, type TokenRow } from '../store/rows.js';

export class PostgresReplayCache implements ReplayCache {
  constructor(private readonly pool: PostgresPool) {}

  async purgeExpired(nowSeconds: number): Promise<number> {
    return (
      (
        await query(this.pool, 'purging used tokens', 'DELETE FROM used_tokens WHERE expires_at < $1', [
          nowSeconds,
        ])
      ).rowCount ?? 0
    );
  }
}

export class PostgresAdminTokens implements AdminTokens {
  constructor(private readonly pool: PostgresPool) {}

  async find(id: string): Promise<AdminTokenRecord | undefined> {
    const { rows } = await query<TokenRow>(
      this.pool,
      'reading admin tokens',
      'SELECT * FROM admin_tokens WHERE id = $1',
      [id],
    );
    return rows[0] === undefined ? undefined : toTokenRecord(rows[0]);
  }

  async insert(record: Omit<AdminTokenRecord, 'revokedAt'>): Promise<void> {
    await query(
      this.pool,
      'storing an admin token',
      'INSERT INTO admin_tokens (id, label, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)',
      [record.id, record.label, record.role, record.tokenHash, record.createdAt],
    );
  }

  async count(): Promise<number> {
    const { rows } = await query<{ n: string }>(
      this.pool,
      'counting admin tokens',
      'SELECT count(*) AS n FROM admin_tokens',
    );
    return Number(rows[0]?.n ?? 0);
  }

  async list(): Promise<AdminTokenRecord[]> {
    const { rows } = await query<TokenRow>(
      this.pool,
      'listing admin tokens',
      'SELECT * FROM admin_tokens ORDER BY created_at, id',
    );
    return rows.map(toTokenRecord);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const result = await query(
      this.pool,
      'revoking an admin token',
      'UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [at, id],
    );
    return result.rowCount === 1;
  }
}

export class PostgresMetaSettings implements MetaSettings {
  constructor(private readonly pool: PostgresPool) {}

  async get(key: string): Promise<string | undefined> {
    const { rows } = await query<{ value: string }>(
      this.pool,
      'reading settings',
      'SELECT value FROM meta WHERE key = $1',
      [key],
    );
    return rows[0]?.value;
  }

  async set(key: string, value: string): Promise<void> {
    await query(
      this.pool,
      'writing settings',
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }
}
