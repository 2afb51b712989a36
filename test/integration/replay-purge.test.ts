/**
 * The purge of expired used tokens with 500,000 of them, on SQLite and on PostgreSQL: it runs as many bounded
 * batches, the event loop turns between every two of them, unexpired tokens stay used, and it stops cleanly.
 * Nothing here is timed: statements, batches and turns are counted (bench/purge-bench.ts measures durations).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, postgresSql } from '../../src/broker/postgres/database.js';
import { SqlAuditRecords } from '../../src/broker/sql/sql-audit-records.js';
import { SqlMetaSettings, SqlReplayCache } from '../../src/broker/sql/sql-small-stores.js';
import type { SqlDatabase, Statement, Work } from '../../src/broker/sql/statement.js';
import { openSqliteDatabase } from '../../src/broker/sqlite/database.js';
import { sqliteSql } from '../../src/broker/sqlite/sqlite-sql.js';
import { TokenAlreadyUsedError, type ReplayCache, type TokenUse } from '../../src/broker/store/interfaces.js';
import { ReplayPurger } from '../../src/broker/store/replay-purger.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { PostgresCluster } from '../helpers/postgres.js';
import {
  countUsedTokens,
  fillUsedTokens,
  FILL_ISSUER,
  type UsedTokensDatabase,
} from '../helpers/used-tokens.js';

const EXPIRED = 500_000;
const KEPT = 1_000;
const WINDOW = 1_000;
const silent = pino({ level: 'silent' });
const link = (prevHash: string, record: string): string => `${prevHash.slice(0, 8)}>${record.length}`;

let cluster: PostgresCluster;
let directory: string;
let databases = 0;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  directory = await mkdtemp(join(tmpdir(), 'replay-purge-'));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

interface Opened {
  readonly sql: SqlDatabase;
  readonly location: UsedTokensDatabase;
  close(): Promise<void>;
}

/** An empty, migrated database of `kind`, with the SqlDatabase the stores run their statements on. */
async function open(kind: 'sqlite' | 'postgres'): Promise<Opened> {
  databases += 1;
  if (kind === 'sqlite') {
    const sqliteFile = join(directory, `broker-${databases}.db`);
    const connection = openSqliteDatabase(sqliteFile);
    return { sql: sqliteSql(connection), location: { sqliteFile }, close: () => connection.close() };
  }
  const name = `purge_${databases}`;
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const postgresUrl = cluster.url.replace(/\/broker$/, `/${name}`);
  const pool = createPool(postgresUrl);
  await migrate(pool);
  return { sql: postgresSql(pool), location: { postgresUrl }, close: () => pool.end() };
}

/**
 * `database`, noting the statements of every work given to it that completes (SQLite runs a work again when
 * another connection held the write lock; the attempt that gave way is not noted).
 */
function counting(database: SqlDatabase, statements: Statement[]): SqlDatabase {
  function* noted<T>(work: Work<T>): Work<T> {
    const yielded: Statement[] = [];
    let step = work.next();
    while (step.done !== true) {
      yielded.push(step.value);
      step = work.next(yield step.value);
    }
    statements.push(...yielded);
    return step.value;
  }
  return {
    dialect: database.dialect,
    run: (what, work) => database.run(what, () => noted(work())),
    transaction: (what, work) => database.transaction(what, () => noted(work())),
    settled: () => database.settled(),
  };
}

describe.each(['sqlite', 'postgres'] as const)('the purge of used tokens on %s', (kind) => {
  it(`purges ${EXPIRED} expired tokens in bounded batches, the event loop turning between every two`, async () => {
    const opened = await open(kind);
    try {
      const now = Math.floor(Date.now() / 1000);
      await fillUsedTokens(opened.location, EXPIRED, now - 7_200);
      await fillUsedTokens(opened.location, KEPT, now + 600);
      const used: TokenUse = { issuer: FILL_ISSUER, jtiHash: 'a'.repeat(64), expiresAtSeconds: now + 600 };
      const audit = new SqlAuditRecords(opened.sql);
      await audit.append('{"kind":"exchange"}', link, used);

      const statements: Statement[] = [];
      const cache = new SqlReplayCache(counting(opened.sql, statements));
      const batch = { started: 0, ended: 0, largest: 0 };
      const replay: ReplayCache = {
        purgeExpired: async (...args) => {
          batch.started += 1;
          const result = await cache.purgeExpired(...args);
          batch.ended += 1;
          batch.largest = Math.max(batch.largest, result.purged);
          return result;
        },
      };
      // A turn of the event loop notes which batch it came after, if none was under way; a store read
      // (one at a time) notes when it completed.
      const idleTurns = new Set<number>();
      const readsDuringPurge: number[] = [];
      const meta = new SqlMetaSettings(opened.sql);
      let purging = true;
      let read: Promise<void> | undefined;
      const ticker = (async () => {
        while (purging) {
          if (batch.started === batch.ended) idleTurns.add(batch.ended);
          read ??= meta.get('key_version').then(() => {
            read = undefined;
            if (purging && batch.ended > 0) readsDuringPurge.push(batch.ended);
          });
          await nextTurn();
        }
        await read;
      })();
      const summary = await new ReplayPurger(replay, silent, WINDOW).purge(now);
      purging = false;
      await ticker;

      // Every token was looked at once, WINDOW at a time; the last batch found fewer behind it.
      const all = EXPIRED + KEPT + 1;
      const batches = Math.floor(all / WINDOW) + 1;
      expect(summary).toEqual({ rows: EXPIRED, batches, stopped: false });
      expect(batch.ended).toBe(batches);
      expect(batch.largest).toBeLessThanOrEqual(WINDOW);
      // Two statements a batch, each bounded: the window's last key (OFFSET WINDOW - 1), and the delete
      // within the window (LIMIT WINDOW). The other values are keys and the time.
      const bounds = statements.map((statement) =>
        statement.values.filter((value) => typeof value === 'number' && value <= WINDOW),
      );
      expect(bounds).toEqual(statements.map((_, index) => [index % 2 === 0 ? WINDOW - 1 : WINDOW]));
      expect(statements).toHaveLength(2 * batches);
      for (let ended = 1; ended < batches; ended += 1) expect(idleTurns).toContain(ended);
      expect(readsDuringPurge.some((ended) => ended < batches)).toBe(true);

      expect(await countUsedTokens(opened.location, now)).toEqual({ all: KEPT + 1, unexpired: KEPT + 1 });
      await expect(audit.append('{"kind":"replay"}', link, used)).rejects.toBeInstanceOf(
        TokenAlreadyUsedError,
      );
    } finally {
      await opened.close();
    }
  }, 120_000);

  it('runs one purge at a time, and stop() ends a running one after its current batch', async () => {
    const opened = await open(kind);
    try {
      const now = Math.floor(Date.now() / 1000);
      await fillUsedTokens(opened.location, 10 * WINDOW, now - 7_200);
      const cache = new SqlReplayCache(opened.sql);
      let batches = 0;
      let stopping: Promise<void> | undefined;
      const purger: ReplayPurger = new ReplayPurger(
        {
          purgeExpired: async (...args) => {
            const result = await cache.purgeExpired(...args);
            batches += 1;
            if (batches === 3) stopping = purger.stop();
            return result;
          },
        },
        silent,
        WINDOW,
      );
      const running = purger.purge(now);
      expect(running).toBeDefined();
      expect(purger.purge(now)).toBeUndefined();
      expect(await running).toEqual({ rows: 3 * WINDOW, batches: 3, stopped: true });
      await stopping;
      expect(purger.purge(now)).toBeUndefined();
      expect(await countUsedTokens(opened.location, now)).toEqual({ all: 7 * WINDOW, unexpired: 0 });
    } finally {
      await opened.close();
    }
  });
});

describe('the broker purging used tokens', () => {
  let harness: BrokerHarness;

  beforeAll(async () => {
    harness = await BrokerHarness.start();
    await harness.setSecret('prod/api/DB_PASSWORD', 'v');
  });

  afterAll(async () => {
    await harness?.close();
  });

  it(`answers /healthz while it purges ${EXPIRED} tokens, refuses a replay after, and stops on close`, async () => {
    const token = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
    expect((await harness.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    const sqliteFile = join(harness.dataDir, 'broker.db');
    await fillUsedTokens({ sqliteFile }, EXPIRED, Math.floor(Date.now() / 1000) - 7_200);

    let finished = false;
    const purging = harness.broker.purgeUsedTokens().finally(() => {
      finished = true;
    });
    expect((await harness.request('GET', '/healthz')).status).toBe(200);
    expect(finished).toBe(false);
    const summary = await purging;
    expect(summary).toMatchObject({ rows: EXPIRED, stopped: false });
    expect(summary?.batches).toBeGreaterThan(EXPIRED / 1_000);
    expect(harness.logs.some((line) => line.includes(`"msg":"purged ${EXPIRED} expired used tokens"`))).toBe(
      true,
    );

    const replay = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expect(replay.status).toBe(401);
    expect(replay.json.code).toBe('token_replayed');

    // Closing mid-purge: the purge ends after its batch, before the store closes, and nothing is thrown.
    await fillUsedTokens({ sqliteFile }, EXPIRED, Math.floor(Date.now() / 1000) - 7_200);
    const cut = harness.broker.purgeUsedTokens();
    await harness.broker.close();
    expect(await cut).toMatchObject({ stopped: true });
    expect(harness.logs.some((line) => line.includes('purging used tokens failed'))).toBe(false);
  }, 120_000);
});
