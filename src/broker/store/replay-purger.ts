import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ReplayCache, ReplayKey } from './interfaces.js';

/**
 * Used tokens one purge batch looks at. SQLite runs a batch on the event loop: 1,000 take about 2 ms there
 * (bench/purge-bench.ts), so requests wait about that long for a purge, however many tokens expired.
 */
export const PURGE_WINDOW = 1000;

export interface PurgeSummary {
  readonly rows: number;
  readonly batches: number;
  /** stop() ended the purge before it was done. */
  readonly stopped: boolean;
}

/**
 * Forgets the used tokens that expired, in batches (ReplayCache.purgeExpired) that each look at `window` of
 * them, handing the event loop back between batches: no request waits behind more than one. One purge runs at a
 * time; stop() ends a running one after its current batch.
 */
export class ReplayPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PurgeSummary> | undefined;
  private stopped = false;

  constructor(
    private readonly replay: ReplayCache,
    private readonly logger: Logger,
    private readonly window = PURGE_WINDOW,
  ) {}

  /** Purges the tokens that expired before `nowSeconds`; undefined when a purge is running or the purger stopped. */
  purge(nowSeconds: number): Promise<PurgeSummary> | undefined {
    if (this.running !== undefined || this.stopped) return undefined;
    const running = this.run(nowSeconds).finally(() => {
      this.running = undefined;
    });
    this.running = running;
    return running;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.purgeLogged(), intervalMs);
    this.timer.unref();
  }

  /** Refuses new purges and waits for a running one to end after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** For timers: purges up to now and logs what it did; a failure is logged, never thrown. */
  async purgeLogged(): Promise<PurgeSummary | undefined> {
    const started = performance.now();
    try {
      const summary = await this.purge(Math.floor(Date.now() / 1000));
      if (summary === undefined) {
        this.logger.debug('purging used tokens skipped: the last purge is still running');
        return undefined;
      }
      const fields = { ...summary, duration_ms: Math.round(performance.now() - started) };
      if (summary.rows > 0) this.logger.info(fields, `purged ${summary.rows} expired used tokens`);
      else this.logger.debug(fields, 'no expired used tokens to purge');
      return summary;
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'purging used tokens failed');
      return undefined;
    }
  }

  private async run(nowSeconds: number): Promise<PurgeSummary> {
    let rows = 0;
    let after: ReplayKey | undefined;
    for (let batches = 1; ; batches += 1) {
      const batch = await this.replay.purgeExpired(nowSeconds, this.window, after);
      rows += batch.purged;
      if (batch.next === undefined) return { rows, batches, stopped: false };
      after = batch.next;
      // A macrotask, not a microtask: with SQLite every batch completes synchronously, so awaiting alone would
      // run all of them back to back.
      await nextTurn();
      if (this.stopped) return { rows, batches, stopped: true };
    }
  }
}
