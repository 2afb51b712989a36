/**
 * A pattern request reads only the stored names in its range of the name index, on SQLite and PostgreSQL:
 * as many rows with 100,000 names stored as with 1,000. Rows read are counted from the database's own plans
 * (PostgreSQL's EXPLAIN ANALYZE row counts; SQLite's query plan, which must search the index by range).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NAMES_READ, planRelease } from '../../src/broker/exchange/release-plan.js';
import { SqlSecretRecords } from '../../src/broker/sql/sql-secret-records.js';
import type { SqlDatabase, Statement, Work } from '../../src/broker/sql/statement.js';
import { parseRequestedEntry } from '../../src/protocol/secret-names.js';
import { grantsOf } from '../helpers/grants.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { postgresNameStore, sqliteNameStore, type NameStore } from '../helpers/stored-names.js';

let cluster: PostgresCluster;
let directory: string;
let databases = 0;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  directory = await mkdtemp(join(tmpdir(), 'pattern-range-'));
}, 120_000);

afterAll(async () => {
  for (const close of closers.splice(0)) await close();
  await cluster?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

/** The store under test over `names`, keeping the statements it runs. */
interface Opened {
  readonly names: NameStore;
  readonly records: SqlSecretRecords;
  readonly statements: Statement[];
}

/** Passes every statement of `database` through, keeping it. */
function recording(database: SqlDatabase, statements: Statement[]): SqlDatabase {
  const recorded = <T>(work: () => Work<T>) =>
    function* (): Work<T> {
      const running = work();
      let step = running.next();
      while (step.done !== true) {
        statements.push(step.value);
        step = running.next(yield step.value);
      }
      return step.value;
    };
  return {
    dialect: database.dialect,
    run: (what, work) => database.run(what, recorded(work)),
    transaction: (what, work) => database.transaction(what, recorded(work)),
    settled: () => database.settled(),
  };
}

function storeOver(names: NameStore): Opened {
  closers.push(() => names.close());
  const statements: Statement[] = [];
  return { names, records: new SqlSecretRecords(recording(names.database, statements)), statements };
}

async function createDatabase(options = ''): Promise<string> {
  const name = `names_${(databases += 1)}`;
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} ${options}`);
  await admin.end();
  return cluster.url.replace(/\/broker$/, `/${name}`);
}

const openSqlite = () => storeOver(sqliteNameStore(join(directory, `names-${(databases += 1)}.db`)));
const openPostgres = async (options = '') =>
  storeOver(await postgresNameStore(await createDatabase(options)));

/**
 * The rows `statement` reads: counted by PostgreSQL; on SQLite, which counts none, every scan of its plan must
 * search the name index by range (and the names it returned are all it read).
 */
async function rowsRead(store: Opened, statement: Statement): Promise<number | undefined> {
  const { plan, rowsRead: counted } = await store.names.scans(statement);
  if (store.names.database.dialect.name === 'postgres') return counted;
  const scans = plan.filter((detail) => detail.includes('secret_heads'));
  expect(scans.length).toBeGreaterThan(0);
  for (const scan of scans) {
    expect(scan).toMatch(/^SEARCH secret_heads USING INDEX \S+ \(name>\?( AND name<\?)?\)$/);
  }
  return undefined;
}

const grants = grantsOf(['prod/**', 'shared/A']);

/** Ten names `prod/db/*` matches, one more under its prefix, and neighbours just outside it. */
const WANTED = Array.from({ length: 10 }, (_, index) => `prod/db/KEY${index}`);
const STORED_NEAR = [
  ...WANTED,
  'prod/db/deeper/KEY',
  'prod/db',
  'prod/db0/KEY',
  'prod/db.x/KEY',
  'prod/dc/KEY',
];
const UNDER_PREFIX = WANTED.length + 1;

/** Names in the granted `prod/` that the pattern does not reach. */
const filler = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, index) => `prod/svc${from + index}/KEY`);

describe.each(['sqlite', 'postgres'] as const)('a pattern request on %s', (kind) => {
  const open = () => (kind === 'sqlite' ? Promise.resolve(openSqlite()) : openPostgres());

  /** Plans the release of `entry`: the names released, how many the store returned, and the rows it read. */
  async function request(store: Opened, entry: string, granted = grants) {
    let read = 0;
    store.statements.length = 0;
    const plan = await planRelease([parseRequestedEntry(entry)], granted, async (prefixes, limit) => {
      const names = await store.records.currentNames(prefixes, limit);
      read += names.length;
      return names;
    });
    expect(store.statements).toHaveLength(1);
    const rows = await rowsRead(store, store.statements[0] as Statement);
    return { released: [...plan.names.keys()], tooWide: plan.tooWide, read, rows };
  }

  it('reads only the matching range, with 100,000 names stored as with 1,000', async () => {
    const store = await open();
    await store.names.insert([...STORED_NEAR, ...filler(0, 1_000 - STORED_NEAR.length)]);
    const small = await request(store, 'prod/db/*');
    await store.names.insert(filler(1_000 - STORED_NEAR.length, 100_000 - STORED_NEAR.length));
    const large = await request(store, 'prod/db/*');

    expect(large.released).toEqual(WANTED);
    expect(small.released).toEqual(WANTED);
    expect(large.read).toBe(UNDER_PREFIX);
    expect(small.read).toBe(UNDER_PREFIX);
    if (kind === 'postgres') expect(large.rows).toBe(UNDER_PREFIX);
  }, 60_000);

  it(`refuses a pattern with more than ${MAX_NAMES_READ} stored names under its prefixes, reading one more at most`, async () => {
    const store = await open();
    await store.names.insert([...STORED_NEAR, ...filler(0, MAX_NAMES_READ)]);
    const wide = await request(store, 'prod/*');
    expect(wide.tooWide).toEqual(['prod/*']);
    expect(wide.released).toEqual([]);
    expect(wide.read).toBe(MAX_NAMES_READ + 1);
    if (kind === 'postgres') expect(wide.rows).toBe(MAX_NAMES_READ + 1);
    // A narrower pattern over the same store is served as before.
    const narrow = await request(store, 'prod/db/*');
    expect(narrow.tooWide).toEqual([]);
    expect(narrow.released).toEqual(WANTED);
  }, 60_000);

  it('a pattern that starts with a wildcard reads only under the grants it overlaps', async () => {
    const store = await open();
    await store.names.insert([...STORED_NEAR, 'shared/A', 'shared/B', ...filler(0, 20_000)]);
    const { released, read, rows } = await request(store, '**', grantsOf(['prod/db/**', 'shared/A']));
    expect(released).toEqual([...WANTED, 'prod/db/deeper/KEY', 'shared/A']);
    expect(read).toBe(UNDER_PREFIX + 1);
    if (kind === 'postgres') expect(rows).toBe(UNDER_PREFIX + 1);
  }, 60_000);

  it('lists every name for the empty prefix, each once, and none for no prefix', async () => {
    const store = await open();
    await store.names.insert(['b/X', 'a/X', 'a/Y']);
    expect(await store.records.currentNames([''])).toEqual(['a/X', 'a/Y', 'b/X']);
    expect(await store.records.currentNames(['a/', 'a/X', ''])).toEqual(['a/X', 'a/Y', 'b/X']);
    expect(await store.records.currentNames(['a/X', 'a/'])).toEqual(['a/X', 'a/Y']);
    expect(await store.records.currentNames([])).toEqual([]);
  });
});

describe('names in a PostgreSQL database whose collation is not byte order', () => {
  /** Names whose order in a language's collation differs from their bytes: cases, digits, punctuation, "z". */
  const names = [
    'prod/A',
    'prod/a',
    'prod/B/x',
    'prod/a-b',
    'prod/a.b',
    'prod/a_b',
    'prod/a/b',
    'prod/ab',
    'prod/z',
    'prod/zeta',
    'prod/Z9',
    'prod/9',
    'prod/99/x',
    'prod0',
    'prod-x/A',
    'prod_x/A',
  ];
  const prefixes = [
    'prod/',
    'prod/a',
    'prod/a/',
    'prod/z',
    'prod/Z',
    'prod/9',
    'prod/a_',
    'prod/a-',
    'prod',
    'prod_',
  ];

  it('reads exactly the names under each prefix', async () => {
    const store = await openPostgres(
      "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C' LC_CTYPE 'C'",
    );
    await store.names.insert(names);
    for (const prefix of prefixes) {
      const expected = names.filter((name) => name.startsWith(prefix)).sort();
      expect(await store.records.currentNames([prefix])).toEqual(expected);
    }
  });

  it('(the data is such that the database collation alone would lose names)', async () => {
    const client = new pg.Client({ connectionString: await createDatabase() });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM unnest($1::text[]) AS t(name)
         WHERE name COLLATE "en-US-x-icu" >= 'prod/z' AND name COLLATE "en-US-x-icu" < 'prod/{'`,
        [names],
      );
      expect(Number(rows[0]?.n)).toBeLessThan(names.filter((name) => name.startsWith('prod/z')).length);
    } finally {
      await client.end();
    }
  });
});
