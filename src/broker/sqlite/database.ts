import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { migrations } from '../sql/schema.js';
import { StoreUnavailableError } from '../store/interfaces.js';

export type SqliteDatabase = Database.Database;

/** How long a call waits for another process's write lock before the store counts as unavailable. */
const BUSY_DEADLINE_MS = 5000;

const MIGRATIONS = migrations('sqlite');

/** Opens (creating with mode 0600) and migrates the embedded database. */
export function openSqliteDatabase(file: string): SqliteDatabase {
  if (file !== ':memory:') closeSync(openSync(file, 'a', 0o600));
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  // FULL: a committed secret write or audit record survives a power cut, not only a process crash.
  database.pragma('synchronous = FULL');
  // Replicas starting at once wait for each other's migration here, where blocking is harmless.
  database.pragma(`busy_timeout = ${BUSY_DEADLINE_MS}`);
  database.pragma('foreign_keys = ON');
  migrate(database);
  // From now on a locked database answers at once and guarded() waits asynchronously instead: SQLite's own
  // busy handler sleeps on the event loop, which would stall every other request of this replica meanwhile.
  database.pragma('busy_timeout = 0');
  return database;
}

function migrate(database: SqliteDatabase): void {
  database
    .transaction(() => {
      const current = database.pragma('user_version', { simple: true }) as number;
      if (current > MIGRATIONS.length) {
        throw new StoreUnavailableError(
          `the database schema is version ${current}, newer than this broker knows (${MIGRATIONS.length}); run a newer broker`,
        );
      }
      for (let version = current; version < MIGRATIONS.length; version += 1) {
        database.exec(MIGRATIONS[version] as string);
        database.pragma(`user_version = ${version + 1}`);
      }
    })
    .immediate();
}

/**
 * Runs a database call; a failure of the database itself becomes StoreUnavailableError (callers fail closed).
 * While another process holds the write lock (SQLITE_BUSY) the call is retried, yielding to the event loop
 * between attempts, for up to BUSY_DEADLINE_MS. A busy call never started its transaction, so retrying is safe.
 */
export async function guarded<T>(database: SqliteDatabase, what: string, run: () => T): Promise<T> {
  const deadline = performance.now() + BUSY_DEADLINE_MS;
  for (let attempt = 0; ; attempt += 1) {
    // A closed connection (a request still running while the broker shuts down) is an outage, not a bug.
    if (!database.open) throw new StoreUnavailableError(`the database failed while ${what}: it is closed`);
    try {
      return run();
    } catch (error) {
      // Only the database's own failures mean "unavailable"; anything else (a used token, a bug) passes through.
      if (!(error instanceof Database.SqliteError)) throw error;
      if (error.code.startsWith('SQLITE_BUSY') && performance.now() < deadline) {
        await busyPause(attempt);
        continue;
      }
      throw new StoreUnavailableError(`the database failed while ${what}: ${error.message}`, {
        cause: error,
      });
    }
  }
}

/** A lock is held for one commit, well under a millisecond: retry on the next turn first, then back off. */
function busyPause(attempt: number): Promise<void> {
  if (attempt < 4) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, Math.min(attempt - 3, 10)));
}
