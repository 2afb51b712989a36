import pg from 'pg';
import { migrations } from '../sql/schema.js';
import {
  raw,
  render,
  runAsync,
  sql,
  type Dialect,
  type SqlDatabase,
  type Statement,
} from '../sql/statement.js';
import { StoreUnavailableError } from '../store/interfaces.js';

export type PostgresPool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

/** One lock id for schema migrations and one for the audit chain (pg_advisory_xact_lock keys). */
const MIGRATION_LOCK = 7_334_001;
const AUDIT_CHAIN_LOCK = 7_334_002;

const MIGRATIONS = migrations('postgres');

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

const POSTGRES: Dialect = {
  name: 'postgres',
  oneOf: (column, values) => sql`${raw(column)} = ANY(${values})`,
  // Writers from every replica take turns here, so the chain stays one chain.
  auditChainLock: sql`SELECT pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK})`,
  auditJson: {
    // The record is parsed once per row.
    from: 'audit_log, LATERAL (SELECT record::jsonb AS r) j',
    member: (key) => `r->>'${key}'`,
    elements: (key, kind) =>
      `${kind === 'text' ? 'jsonb_array_elements_text' : 'jsonb_array_elements'}(coalesce(r->'${key}', '[]'::jsonb)) AS e(value)`,
    elementMember: (key) => `e.value->>'${key}'`,
  },
};

/** The shared stores' statements on a pool: each awaited, a transaction on one connection. */
export function postgresSql(pool: PostgresPool): SqlDatabase {
  const answerOn = (db: Queryable, what: string) => async (statement: Statement) => {
    const result = await query(
      db,
      what,
      render(statement, (position) => `$${position}`),
      statement.values,
    );
    return { rows: result.rows, changes: result.rowCount ?? 0 };
  };
  return {
    dialect: POSTGRES,
    run: (what, work) => runAsync(work(), answerOn(pool, what)),
    // A PostgreSQL commit is durable before any other session can read it.
    settled: () => Promise.resolve(),
    // Old row versions stay until VACUUM reuses their space, and in the WAL and backups: the operator's part.
    clearDeleted: () => Promise.resolve(),
    transaction: (what, work) =>
      transaction(pool, what, (client) => runAsync(work(), answerOn(client, what))),
  };
}
