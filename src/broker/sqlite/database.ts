import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { migrations } from '../sql/schema.js';
import { StoreUnavailableError } from '../store/interfaces.js';
import { Checkpointer, type CheckpointOptions } from './checkpointer.js';
import { WalSync, type SyncFile } from './wal-sync.js';

export type SqliteDatabase = Database.Database;

/** The serving connection, and how its writes become durable. */
export interface SqliteConnection {
  readonly database: SqliteDatabase;
  /**
   * Resolves once every write committed so far is on disk; a write is answered only after it. Without a WAL
   * (an in-memory database) commits are as durable as they get when they return, and this resolves at once.
   */
  durable(): Promise<void>;
  /** Throws StoreUnavailableError once writes can no longer be made durable (see WalSync). */
  assertWritable(): void;
  /** See SqlDatabase.clearDeleted: checkpoints the log into the database file and truncates it. */
  clearDeleted(): Promise<void>;
  /** Stops the checkpoints, waits for the sync under way, and closes the connection. */
  close(): Promise<void>;
}

export interface SqliteOptions {
  /** How the WAL file is flushed (tests hold or fail it). */
  readonly syncFile?: SyncFile;
  readonly checkpoints?: CheckpointOptions;
}

/** How long a call waits for another process's write lock before the store counts as unavailable. */
const BUSY_DEADLINE_MS = 5000;

const MIGRATIONS = migrations('sqlite');

/**
 * Opens (creating with mode 0600) and migrates the embedded database. A committed secret write or audit record
 * must survive a power cut, not only a process crash: the migration commits with synchronous=FULL, and the
 * serving connection then commits with NORMAL and makes each write durable off the event loop (WalSync), with
 * its checkpoints in a worker thread (Checkpointer).
 */
export function openSqliteDatabase(file: string, options: SqliteOptions = {}): SqliteConnection {
  if (file !== ':memory:') closeSync(openSync(file, 'a', 0o600));
  const database = new Database(file);
  const journal = database.pragma('journal_mode = WAL', { simple: true });
  database.pragma('synchronous = FULL');
  // Replicas starting at once wait for each other's migration here, where blocking is harmless.
  database.pragma(`busy_timeout = ${BUSY_DEADLINE_MS}`);
  database.pragma('foreign_keys = ON');
  // Deleted content is overwritten with zeros, also on freed pages (a purged value's overflow pages): a purge
  // leaves no ciphertext or wrapped key in the file. Our deletes are few and small (used tokens, read windows),
  // and the pages they change are written anyway.
  database.pragma('secure_delete = ON');
  try {
    migrate(database);
  } catch (error) {
    database.close();
    throw error;
  }
  // From now on a locked database answers at once and guarded() waits asynchronously instead: SQLite's own
  // busy handler sleeps on the event loop, which would stall every other request of this replica meanwhile.
  database.pragma('busy_timeout = 0');
  if (journal !== 'wal') {
    // No WAL (an in-memory database): FULL stays, and its commits sync when they return.
    return {
      database,
      durable: () => Promise.resolve(),
      assertWritable: () => undefined,
      clearDeleted: () => Promise.resolve(),
      close: async () => void database.close(),
    };
  }
  return durableWal(database, file, options);
}

function durableWal(database: SqliteDatabase, file: string, options: SqliteOptions): SqliteConnection {
  let walSync: WalSync | undefined;
  let checkpointer: Checkpointer;
  try {
    // SQLite names the log after the database's full path (links resolved), which database_list gives.
    const main = (database.pragma('database_list') as { name: string; file: string }[]).find(
      (entry) => entry.name === 'main',
    );
    walSync = WalSync.open(`${main?.file ?? file}-wal`, options.syncFile);
    checkpointer = new Checkpointer(database, file, options.checkpoints);
  } catch (error) {
    // Setting up failed already; a failure to close the log's descriptor adds nothing to report.
    walSync?.close().catch(() => undefined);
    database.close();
    throw new StoreUnavailableError(
      `the database's write-ahead log could not be set up: ${(error as Error).message}`,
      { cause: error },
    );
  }
  database.pragma('synchronous = NORMAL');
  const sync = walSync;
  return {
    database,
    // Once a sync has failed, the pages SQLite wrote may not be what is on disk: no checkpoint may copy them
    // into the database file (nor restart the log) before a restart recovers from what the disk holds.
    durable: () =>
      sync.durable().catch(async (error: unknown) => {
        await checkpointer.close();
        throw error;
      }),
    assertWritable: () => {
      if (sync.failed !== undefined) throw sync.failed;
    },
    // After durable(): nothing that is not yet on disk in the log may be copied into the database file.
    clearDeleted: async () => {
      await sync.durable();
      await checkpointer.truncate().catch((error: unknown) => {
        throw new StoreUnavailableError(
          `the purge is committed, but its rows' bytes could not yet be cleared from the database's log (${(error as Error).message}); run the purge again`,
          { cause: error },
        );
      });
    },
    close: async () => {
      await checkpointer.close();
      await sync.close();
      database.close();
    },
  };
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
