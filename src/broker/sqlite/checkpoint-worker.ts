/**
 * A worker thread (see checkpointer.ts): copies the WAL's committed frames into the database file on a
 * connection of its own, every `intervalMs`, so neither the copy nor its syncs run on the event loop.
 *
 * A PASSIVE checkpoint waits for no one, so under steady writes new frames keep arriving while it copies and
 * the log is never found fully copied, which is when the next writer starts it over from its beginning. Once
 * the log holds `restartFrames`, a RESTART checkpoint follows: it takes the write lock for the few frames the
 * PASSIVE one left (writers meanwhile retry without blocking, see guarded()) and leaves the log to be reused.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, intervalMs, restartFrames } = workerData as {
  file: string;
  intervalMs: number;
  restartFrames: number;
};
const port = parentPort as NonNullable<typeof parentPort>;
const database = new Database(file, { fileMustExist: true });
// The log is synced before frames are copied and the database file after (with NORMAL too; FULL says so).
database.pragma('synchronous = FULL');
// How long a RESTART waits for the writer and readers of the moment (holding off writers meanwhile); it tries
// again next round otherwise.
database.pragma('busy_timeout = 100');

function checkpoint(): void {
  const [passive] = database.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
  if ((passive?.log ?? 0) >= restartFrames) database.pragma('wal_checkpoint(RESTART)');
}

/**
 * A TRUNCATE checkpoint, asked for after a purge: every frame is copied into the database file and the log cut
 * to nothing, so the pages the purged rows were written in are gone from it. It waits longer than the periodic
 * ones for the writers and readers of the moment (a purge is rare, and its caller waits off the event loop).
 */
function truncate(): boolean {
  database.pragma('busy_timeout = 2000');
  try {
    const [result] = database.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return result?.busy === 0;
  } finally {
    database.pragma('busy_timeout = 100');
  }
}

port.on('message', (message: { truncate?: number }) => {
  if (message.truncate === undefined) return;
  try {
    port.postMessage({ truncated: message.truncate, done: truncate() });
  } catch (error) {
    port.postMessage({
      truncated: message.truncate,
      error: error instanceof Error ? error.message : String(error),
    });
  }
});

// Ended by terminate(): a checkpoint under way finishes first (SQLite is not interrupted), and better-sqlite3
// closes the connection as the thread ends.
const timer = setInterval(() => {
  try {
    checkpoint();
  } catch (error) {
    clearInterval(timer);
    port.postMessage({ failed: error instanceof Error ? error.message : String(error) });
  }
}, intervalMs);
