/**
 * The purge of expired used tokens with BENCH_PURGE_ROWS (500,000) of them, on SQLite and on PostgreSQL: the
 * batched purge the broker runs (ReplayPurger) beside one DELETE of them all, as the broker ran before. Prints
 * each one's duration, batches, the longest a single call held the event loop (SQLite runs its statements
 * synchronously, PostgreSQL's only send them), and the longest the event loop went without a turn meanwhile,
 * measured two ways: the largest gap between turns of a setImmediate ticker, and perf_hooks'
 * monitorEventLoopDelay maximum (1 ms resolution). The last two include any time this process waited for a CPU.
 *
 * SQLite is a broker database in a temp directory, opened as the broker opens it; PostgreSQL is a temp cluster
 * from test/helpers/postgres.ts (fsync=off). Run: npx tsx bench/purge-bench.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';
import type { ReplayCache, Stores } from '../src/broker/store/interfaces.js';
import { openPostgresStores } from '../src/broker/postgres/open-postgres-stores.js';
import { openSqliteStores } from '../src/broker/sqlite/open-sqlite-stores.js';
import { PURGE_WINDOW, ReplayPurger } from '../src/broker/store/replay-purger.js';
import { PostgresCluster } from '../test/helpers/postgres.js';
import { fillUsedTokens, type UsedTokensDatabase } from '../test/helpers/used-tokens.js';

const ROWS = Number(process.env.BENCH_PURGE_ROWS ?? 500_000);
/** Unexpired tokens kept beside the expired ones. */
const KEPT = 10_000;
const EXPIRED_AT = 1_000_000;
const NOW = EXPIRED_AT + 3_600;

interface Measured {
  readonly rows: number;
  readonly batches: number;
  readonly totalMs: number;
  /** How long calls ran before handing the event loop back: the median and the longest. */
  readonly onLoopMs: readonly [median: number, max: number];
  readonly tickerMaxMs: number;
  readonly monitorMaxMs: number;
}

/** Runs `work` while measuring how long the event loop went without a turn. */
async function measure(
  work: () => Promise<Pick<Measured, 'rows' | 'batches' | 'onLoopMs'>>,
): Promise<Measured> {
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  let done = false;
  let tickerMaxMs = 0;
  const ticker = (async () => {
    let last = performance.now();
    while (!done) {
      await nextTurn();
      const now = performance.now();
      tickerMaxMs = Math.max(tickerMaxMs, now - last);
      last = now;
    }
  })();
  monitor.enable();
  // The monitor's timer is armed before the work can hold the loop.
  await setTimeout(5);
  const started = performance.now();
  const result = await work();
  const totalMs = performance.now() - started;
  done = true;
  await ticker;
  monitor.disable();
  return { ...result, totalMs, tickerMaxMs, monitorMaxMs: monitor.max / 1e6 };
}

/** The replay cache, noting how long each call runs before it returns its promise. */
function timed(replay: ReplayCache, onLoop: number[]): ReplayCache {
  return {
    purgeExpired: (...args) => {
      const started = performance.now();
      const batch = replay.purgeExpired(...args);
      onLoop.push(performance.now() - started);
      return batch;
    },
  };
}

function medianAndMax(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[Math.floor(sorted.length / 2)] ?? 0, sorted[sorted.length - 1] ?? 0];
}

/** The single statement the broker ran before: one DELETE of every expired row. */
async function singleDelete(database: UsedTokensDatabase): Promise<number> {
  const text = 'DELETE FROM used_tokens WHERE expires_at < ';
  if ('sqliteFile' in database) {
    const sqlite = new Database(database.sqliteFile);
    try {
      sqlite.pragma('synchronous = FULL');
      return sqlite.prepare(`${text}?`).run(NOW).changes;
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client({ connectionString: database.postgresUrl });
  await client.connect();
  try {
    return (await client.query(`${text}$1`, [NOW])).rowCount ?? 0;
  } finally {
    await client.end();
  }
}

function report(store: string, how: string, measured: Measured): void {
  const { rows, batches, totalMs, onLoopMs, tickerMaxMs, monitorMaxMs } = measured;
  console.log(
    [
      store.padEnd(9),
      how.padEnd(14),
      String(rows).padStart(8),
      String(batches).padStart(8),
      totalMs.toFixed(0).padStart(9),
      onLoopMs
        .map((ms) => ms.toFixed(1))
        .join(' / ')
        .padStart(17),
      tickerMaxMs.toFixed(1).padStart(12),
      monitorMaxMs.toFixed(1).padStart(13),
    ].join(''),
  );
}

async function benchStore(
  store: string,
  database: UsedTokensDatabase,
  open: () => Promise<Stores>,
): Promise<void> {
  const stores = await open();
  try {
    await fillUsedTokens(database, ROWS, EXPIRED_AT);
    await fillUsedTokens(database, KEPT, NOW + 600);
    const onLoop: number[] = [];
    const purger = new ReplayPurger(timed(stores.replay, onLoop), pino({ level: 'silent' }));
    const batched = await measure(async () => {
      const summary = await purger.purge(NOW);
      return { rows: summary?.rows ?? 0, batches: summary?.batches ?? 0, onLoopMs: medianAndMax(onLoop) };
    });
    report(store, 'batched', batched);
    await fillUsedTokens(database, ROWS, EXPIRED_AT);
  } finally {
    await stores.close();
  }
  const single = await measure(async () => {
    const started = performance.now();
    const deleting = singleDelete(database);
    const onLoopMs = performance.now() - started;
    return { rows: await deleting, batches: 1, onLoopMs: [onLoopMs, onLoopMs] };
  });
  report(store, 'one DELETE', single);
}

const directory = await mkdtemp(join(tmpdir(), 'purge-bench-'));
const cluster = await PostgresCluster.start();
try {
  console.log(
    `purging ${ROWS} expired used tokens (${KEPT} unexpired kept), batches of ${PURGE_WINDOW} tokens looked at`,
  );
  console.log(
    'store    purge             rows batches total ms  on loop ms p50 / max  ticker max  monitor max',
  );
  const sqliteFile = join(directory, 'broker.db');
  await benchStore('sqlite', { sqliteFile }, async () => openSqliteStores(sqliteFile));
  await benchStore('postgres', { postgresUrl: cluster.url }, () => openPostgresStores(cluster.url));
} finally {
  await cluster.stop();
  await rm(directory, { recursive: true, force: true });
}
