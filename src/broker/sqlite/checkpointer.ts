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

interface WorkerMessage {
  readonly failed?: string;
  readonly truncated?: number;
  readonly done?: boolean;
  readonly error?: string;
}

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
  private fellBack = false;
  private truncations = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

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
    this.worker.on('message', (message: WorkerMessage) => {
      if (message.failed !== undefined) this.fallBack();
      if (message.truncated !== undefined) this.answerTruncation(message);
    });
    this.worker.on('error', () => this.fallBack());
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        if (this.closing === undefined) this.fallBack();
        resolve();
      }),
    );
  }

  /**
   * Copies every frame of the log into the database file and truncates the log (after a purge: the log holds
   * pages as they were written, purged rows included). Rejects when readers or writers kept it from finishing.
   */
  truncate(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new Error('the checkpoints are stopped'));
    if (this.fellBack) return Promise.resolve(this.truncateHere());
    const id = (this.truncations += 1);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ truncate: id });
    });
  }

  /** Ends the worker once its checkpoint under way is done; its connection closes with it. */
  close(): Promise<void> {
    this.closing ??= this.worker.terminate().then(() => this.exited);
    return this.closing;
  }

  private fallBack(): void {
    this.fellBack = true;
    if (this.database.open) this.database.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    // Truncations the worker will not answer any more are done here.
    for (const [id, waiter] of this.waiting) {
      this.waiting.delete(id);
      try {
        this.truncateHere();
        waiter.resolve();
      } catch (error) {
        waiter.reject(error as Error);
      }
    }
  }

  private answerTruncation({ truncated, done, error }: WorkerMessage): void {
    const waiter = this.waiting.get(truncated as number);
    if (waiter === undefined) return;
    this.waiting.delete(truncated as number);
    if (done === true) waiter.resolve();
    else waiter.reject(new Error(error ?? 'other connections were reading or writing the database'));
  }

  /** On the serving connection (the worker is gone): a rare call, so blocking for it is accepted. */
  private truncateHere(): void {
    if (!this.database.open) throw new Error('the database is closed');
    const [result] = this.database.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (result?.busy !== 0) throw new Error('other connections were reading or writing the database');
  }
}
