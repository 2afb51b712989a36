import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { PurgeBatchOf, ReplayCache, ReplayKey } from './interfaces.js';

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

/** Rows that expire, purged in batches along their primary key (ReplayCache.purgeExpired is the model). */
export interface ExpiringRows<Key> {
  purgeExpired(nowSeconds: number, window: number, after?: Key): Promise<PurgeBatchOf<Key>>;
}

/**
 * Deletes expired rows in batches (ExpiringRows.purgeExpired) that each look at `window` of them, handing the
 * event loop back between batches: no request waits behind more than one. One purge runs at a time; stop() ends a
 * running one after its current batch. `what` names the rows in logs ("used tokens").
 */
export class BatchPurger<Key> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PurgeSummary> | undefined;
  private stopped = false;

  constructor(
    private readonly rows: ExpiringRows<Key>,
    private readonly logger: Logger,
    private readonly window: number,
    private readonly what: string,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** Purges the rows that expired by `nowSeconds`; undefined when a purge is running or the purger stopped. */
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
      const summary = await this.purge(this.nowSeconds());
      if (summary === undefined) {
        this.logger.debug(`purging ${this.what} skipped: the last purge is still running`);
        return undefined;
      }
      const fields = { ...summary, duration_ms: Math.round(performance.now() - started) };
      if (summary.rows > 0) this.logger.info(fields, `purged ${summary.rows} expired ${this.what}`);
      else this.logger.debug(fields, `no expired ${this.what} to purge`);
      return summary;
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, `purging ${this.what} failed`);
      return undefined;
    }
  }

  private async run(nowSeconds: number): Promise<PurgeSummary> {
    let rows = 0;
    let after: Key | undefined;
    for (let batches = 1; ; batches += 1) {
      const batch = await this.rows.purgeExpired(nowSeconds, this.window, after);
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

/** Forgets the used tokens that expired (see BatchPurger). */
export class ReplayPurger extends BatchPurger<ReplayKey> {
  constructor(replay: ReplayCache, logger: Logger, window = PURGE_WINDOW) {
    super(replay, logger, window, 'used tokens');
  }
}
