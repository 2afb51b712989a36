/**
 * A disk whose syncs the test answers: each call to `sync` waits until the test releases or fails it, so a
 * test can see what waits for a sync, and what happens when one fails. `passThrough` answers them at once.
 */
import type { SyncFile } from '../../src/broker/sqlite/wal-sync.js';

export class HeldDisk {
  /** The descriptor of every sync asked for, in order. */
  readonly calls: number[] = [];
  passThrough = false;
  private readonly waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private wakeUp: (() => void) | undefined;

  readonly sync: SyncFile = (fd) => {
    this.calls.push(fd);
    if (this.passThrough) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.wakeUp?.();
    });
  };

  /** Resolves once a sync is waiting to be answered. */
  async held(): Promise<void> {
    while (this.waiting.length === 0) await new Promise<void>((resolve) => (this.wakeUp = resolve));
  }

  /** Answers the oldest waiting sync: done. */
  release(): void {
    this.take().resolve();
  }

  /** Answers the oldest waiting sync: the disk failed. */
  fail(error: Error = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })): void {
    this.take().reject(error);
  }

  private take() {
    const next = this.waiting.shift();
    if (next === undefined) throw new Error('no sync is waiting');
    return next;
  }
}

/** A few turns of the event loop: long enough for anything not waiting on something else to settle. */
export async function someTurns(): Promise<void> {
  for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled, tracked from now on. */
export function tracked<T>(promise: Promise<T>): { readonly settled: boolean; readonly promise: Promise<T> } {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}
