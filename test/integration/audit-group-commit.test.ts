/**
 * Group commit of audit records on both real stores: appends that arrive together share one transaction, keep
 * one chain in call order, keep each token single-use inside the batch, and a batch the database refuses
 * writes none of its records.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';
import {
  StoreUnavailableError,
  TokenAlreadyUsedError,
  type Stores,
  type TokenUse,
} from '../../src/broker/store/interfaces.js';
import { openPostgresStores } from '../../src/broker/postgres/open-postgres-stores.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { PostgresCluster } from '../helpers/postgres.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const keys = new AuditChainKeys(masterKeyFromBytes(randomBytes(32)));
const verify = (store: Stores) => verifyAuditChain(store.audit, { keys });

function freshUse(): TokenUse {
  return { issuer: ISSUER, jtiHash: randomBytes(32).toString('hex'), expiresAtSeconds: 4_000_000_000 };
}

function append(stores: Stores, text: string, use: TokenUse | undefined = freshUse()) {
  return stores.audit.append(JSON.stringify({ kind: 'test', text }), keys.link, use);
}

/** Runs `sql` on the store's own database, as an operator (or a broken server) would. */
interface StoreUnderTest {
  readonly stores: Stores;
  execute(sql: string): Promise<void>;
}

let cluster: PostgresCluster;
let sqliteDirectory: string;
const stores: Record<'sqlite' | 'postgres', StoreUnderTest> = {} as never;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  const postgres = await openPostgresStores(cluster.url);
  const pool = new pg.Pool({ connectionString: cluster.url, max: 1 });
  stores.postgres = {
    stores: postgres,
    execute: async (sql) => {
      await pool.query(sql);
    },
  };
  sqliteDirectory = await mkdtemp(join(tmpdir(), 'group-commit-'));
  const file = join(sqliteDirectory, 'broker.db');
  const sqlite = openSqliteStores(file);
  stores.sqlite = {
    stores: sqlite,
    execute: async (sql) => {
      const database = new Database(file);
      try {
        database.exec(sql);
      } finally {
        database.close();
      }
    },
  };
  afterAllCleanups.push(
    () => pool.end(),
    () => postgres.close(),
    () => sqlite.close(),
  );
}, 120_000);

const afterAllCleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of afterAllCleanups) await cleanup().catch(() => undefined);
  await cluster?.stop();
  if (sqliteDirectory !== undefined) await rm(sqliteDirectory, { recursive: true, force: true });
});

const REFUSE_TRIGGER = {
  sqlite: `CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_log
           WHEN NEW.record LIKE '%refuse-me%' BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END;`,
  postgres: `CREATE FUNCTION refuse_marked() RETURNS trigger AS $$
             BEGIN IF NEW.record LIKE '%refuse-me%' THEN RAISE EXCEPTION 'refused by trigger'; END IF; RETURN NEW; END
             $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_marked();`,
};
const DROP_TRIGGER = {
  sqlite: 'DROP TRIGGER refuse_marked;',
  postgres: 'DROP TRIGGER refuse_marked ON audit_log; DROP FUNCTION refuse_marked();',
};

describe.each(['sqlite', 'postgres'] as const)('audit group commit on %s', (kind) => {
  it('appends made together all commit, in call order, as one valid chain', async () => {
    const { stores: store } = stores[kind];
    const entries = await Promise.all(Array.from({ length: 60 }, (_, index) => append(store, `n${index}`)));
    const first = entries[0]!.seq;
    expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, index) => first + index));
    entries.forEach((entry, index) => {
      expect(JSON.parse(entry.record)).toEqual({ kind: 'test', text: `n${index}` });
      if (index > 0) expect(entry.prevHash).toBe(entries[index - 1]!.hash);
    });
    expect(await verify(store)).toMatchObject({ ok: true, hashOnly: 0, underUnconfiguredKey: [] });
  });

  it('one token twice in one batch: the first append writes, the second is refused and writes nothing', async () => {
    const { stores: store } = stores[kind];
    const use = freshUse();
    const [first, second, other] = await Promise.allSettled([
      append(store, 'first', use),
      append(store, 'second', use),
      append(store, 'other'),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    expect((second as PromiseRejectedResult).reason).toBeInstanceOf(TokenAlreadyUsedError);
    expect(other.status).toBe('fulfilled');
    const firstSeq = (first as PromiseFulfilledResult<{ seq: number }>).value.seq;
    expect((other as PromiseFulfilledResult<{ seq: number }>).value.seq).toBe(firstSeq + 1);
    // A later batch refuses it too.
    await expect(append(store, 'later', use)).rejects.toBeInstanceOf(TokenAlreadyUsedError);
    expect(await verify(store)).toMatchObject({ ok: true });
  });

  it('a batch the database refuses fails every append in it and writes none; the next batch works', async () => {
    const { stores: store, execute } = stores[kind];
    const before = await verify(store);
    const uses = [freshUse(), freshUse(), freshUse()];
    await execute(REFUSE_TRIGGER[kind]);
    try {
      const results = await Promise.allSettled([
        append(store, 'a', uses[0]),
        append(store, 'refuse-me', uses[1]),
        append(store, 'c', uses[2]),
      ]);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
    } finally {
      await execute(DROP_TRIGGER[kind]);
    }
    expect(await verify(store)).toEqual(before);
    // Nothing of the refused batch was kept, not even its token uses: the same tokens commit now.
    const retried = await Promise.all(uses.map((use, index) => append(store, `retry${index}`, use)));
    expect(retried.map((entry) => entry.seq)).toEqual([1, 2, 3].map((n) => before.lastSeq + n));
    expect(await verify(store)).toMatchObject({ ok: true, lastSeq: before.lastSeq + 3 });
  });
});

describe('SQLite write lock held by another connection', () => {
  it('waits without stalling the event loop, then commits once the lock is free', async () => {
    const { stores: store } = stores.sqlite;
    const other = new Database(join(sqliteDirectory, 'broker.db'));
    try {
      other.exec('BEGIN IMMEDIATE');
      const pending = append(store, 'waited');
      let settled = false;
      void pending.finally(() => (settled = true)).catch(() => undefined);
      // Timers keep firing while the append waits: the wait is not SQLite's sleeping busy handler.
      for (let turn = 0; turn < 5; turn += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(settled).toBe(false);
      other.exec('COMMIT');
      const entry = await pending;
      expect(JSON.parse(entry.record)).toEqual({ kind: 'test', text: 'waited' });
    } finally {
      other.close();
    }
  });

  it('answers unavailable when the lock is not released in time, and writes nothing', async () => {
    const { stores: store } = stores.sqlite;
    const before = await verify(store);
    const other = new Database(join(sqliteDirectory, 'broker.db'));
    try {
      other.exec('BEGIN IMMEDIATE');
      const error = await append(store, 'never').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/writing the audit record: database is locked/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await verify(store)).toEqual(before);
  }, 20_000);
});
