import pg from 'pg';
import { StoreUnavailableError } from '../store/interfaces.js';

export type PostgresPool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

/** One lock id for schema migrations and one for the audit chain (pg_advisory_xact_lock keys). */
const MIGRATION_LOCK = 7_334_001;
export const AUDIT_CHAIN_LOCK = 7_334_002;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE secret_heads (
     name TEXT PRIMARY KEY,
     last_version INTEGER NOT NULL,
     current_version INTEGER,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE secret_versions (
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     key_id TEXT NOT NULL,
     wrapped_key BYTEA NOT NULL,
     nonce BYTEA NOT NULL,
     ciphertext BYTEA NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (name, version)
   );
   CREATE INDEX secret_versions_key_id ON secret_versions (key_id);
   CREATE TABLE used_tokens (
     issuer TEXT NOT NULL,
     jti_sha256 TEXT NOT NULL,
     expires_at BIGINT NOT NULL,
     PRIMARY KEY (issuer, jti_sha256)
   );
   CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at);
   CREATE TABLE audit_log (
     seq BIGINT PRIMARY KEY,
     record TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE TABLE admin_tokens (
     id TEXT PRIMARY KEY,
     label TEXT NOT NULL,
     role TEXT NOT NULL,
     token_hash BYTEA NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT
   );`,
];

export function createPool(url: string): PostgresPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client whose server went away emits here; the pool drops it and the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Migrates under an advisory lock, so replicas starting at once apply each migration exactly once. */
export async function migrate(pool: PostgresPool): Promise<void> {
  await transaction(pool, 'migrating the database', async (client) => {
    const step = 'migrating the database';
    await query(client, step, 'SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await query(
      client,
      step,
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
    );
    const { rows } = await query<{ version: number | null }>(
      client,
      step,
      'SELECT max(version) AS version FROM schema_migrations',
    );
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new StoreUnavailableError(
        `the database schema is version ${current}, newer than this broker knows (${MIGRATIONS.length}); run a newer broker`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version += 1) {
      await query(client, step, MIGRATIONS[version] as string);
      await query(client, step, 'INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
        version + 1,
        new Date().toISOString(),
      ]);
    }
  });
}

function unavailable(what: string, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const detail =
    error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error);
  return new StoreUnavailableError(`the database failed while ${what}: ${detail}`, { cause: error });
}

/** One query; any database failure becomes StoreUnavailableError (callers fail closed). */
export async function query<Row extends pg.QueryResultRow>(
  db: Queryable,
  what: string,
  text: string,
  values: readonly unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  try {
    return await db.query<Row>(text, values as unknown[]);
  } catch (error) {
    throw unavailable(what, error);
  }
}

/** Runs `work` in one transaction on one connection; rolls back on any error. */
export async function transaction<T>(
  pool: PostgresPool,
  what: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw unavailable(what, error);
  }
  try {
    await query(client, what, 'BEGIN');
    let result: T;
    try {
      // `work` runs its statements through query(), so database failures arrive already translated.
      result = await work(client);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    await query(client, what, 'COMMIT');
    return result;
  } finally {
    client.release();
  }
}
