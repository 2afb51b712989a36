import { closeSync, constants, fdatasync, fstatSync, openSync } from 'node:fs';
import { StoreUnavailableError } from '../store/interfaces.js';

/** Flushes the file behind `fd` to the disk; rejects when the disk did not confirm it. */
export type SyncFile = (fd: number) => Promise<void>;

export const fdatasyncFile: SyncFile = (fd) =>
  new Promise((resolve, reject) => fdatasync(fd, (error) => (error === null ? resolve() : reject(error))));

/**
 * Durable commits without the event loop waiting for the disk. The connection commits with synchronous=NORMAL
 * (its WAL frames reach the operating system, not yet the disk) and every write then awaits `durable()`: an
 * fdatasync of the WAL file on libuv's thread pool, through a descriptor of our own on the same file. A commit
 * is answered only once a sync that started after it has finished, which is what synchronous=FULL gives, with
 * one sync shared by every commit made while the previous one ran.
 *
 * A failed sync leaves unknown which frames reached the disk (Linux may drop the pages it failed to write and
 * report the next sync clean), and SQLite's recovery stops at the first missing frame, so every later commit
 * could be lost too: after one failure every write fails until the broker is restarted and SQLite recovers the
 * log from what is on disk.
 */
export class WalSync {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly fd: number,
    private readonly sync: SyncFile,
  ) {}

  /**
   * Opens `walFile`, the log SQLite writes (the database's full path, links resolved, and "-wal"), read-only and
   * without following a link. It stays the same file while any connection to the database is open.
   */
  static open(walFile: string, sync: SyncFile = fdatasyncFile): WalSync {
    const fd = openSync(walFile, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      if (!fstatSync(fd).isFile()) throw new StoreUnavailableError(`${walFile} is not a regular file`);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new WalSync(fd, sync);
  }

  /** Resolves once everything written to the WAL before this call is on disk; rejects when that is not known. */
  durable(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closing !== undefined)
      return Promise.reject(new StoreUnavailableError('the database is closed'));
    if (this.queued !== undefined) return this.queued;
    if (this.running === undefined) return this.start();
    // A sync under way may have started before this caller's commit: one more follows it, for all who wait.
    this.queued = this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  /** The reason writes fail since a sync failed, or undefined while syncs succeed. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Waits for the sync under way (its callers are answered), then releases the descriptor. */
  close(): Promise<void> {
    this.closing ??= Promise.allSettled([this.running, this.queued]).then(() => closeSync(this.fd));
    return this.closing;
  }

  private startQueued(): Promise<void> {
    this.queued = undefined;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return this.start();
  }

  private start(): Promise<void> {
    const run = this.sync(this.fd).then(
      () => {
        if (this.running === run) this.running = undefined;
      },
      (error: unknown) => {
        if (this.running === run) this.running = undefined;
        this.failure ??= new StoreUnavailableError(
          `the database's log could not be flushed to disk (${error instanceof Error ? error.message : String(error)}); no write is accepted until the broker is restarted`,
          { cause: error },
        );
        throw this.failure;
      },
    );
    this.running = run;
    return run;
  }
}
