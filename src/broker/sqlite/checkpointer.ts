import type Database from 'better-sqlite3';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../threads/module-worker.js';

export interface CheckpointOptions {
  /** How often the worker checkpoints. */
  readonly intervalMs?: number;
  /** Log frames (pages) past which the log is restarted; SQLite's own checkpoints start at 1000. */
  readonly restartFrames?: number;
}

const DEFAULTS: Required<CheckpointOptions> = { intervalMs: 1000, restartFrames: 4000 };
/** SQLite's own default, for the serving connection when the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * Checkpoints of the serving connection's WAL in a worker thread (checkpoint-worker.ts). The serving connection
 * runs none itself (wal_autocheckpoint=0): SQLite would run them inside a commit, on the event loop, with two
 * syncs. Should the worker fail, the serving connection checkpoints for itself again, slower but never letting
 * the log grow without bound.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly database: Database.Database,
    file: string,
    options: CheckpointOptions = {},
  ) {
    database.pragma('wal_autocheckpoint = 0');
    this.worker = startModuleWorker('checkpoint-worker', import.meta.url, {
      workerData: {
        file,
        intervalMs: options.intervalMs ?? DEFAULTS.intervalMs,
        restartFrames: options.restartFrames ?? DEFAULTS.restartFrames,
      },
    });
    // A forgotten close must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (message: { failed?: string }) => {
      if (message.failed !== undefined) this.fallBack();
    });
    this.worker.on('error', () => this.fallBack());
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        if (this.closing === undefined) this.fallBack();
        resolve();
      }),
    );
  }

  /** Ends the worker once its checkpoint under way is done; its connection closes with it. */
  close(): Promise<void> {
    this.closing ??= this.worker.terminate().then(() => this.exited);
    return this.closing;
  }

  private fallBack(): void {
    if (this.database.open) this.database.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
