/**
 * A generated master key file that went missing next to a database that holds data: the broker refuses to
 * generate another (which could read none of it), says where the key was expected and how to get it back, and
 * writes nothing: no key file, no change to the database. With an empty database a key is still generated.
 */
import { createHash } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { MasterKeyError } from '../../src/broker/store/master-key.js';
import { openPostgresStores } from '../../src/broker/postgres/open-postgres-stores.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { runCli } from '../helpers/cli.js';
import { PostgresCluster } from '../helpers/postgres.js';

/** No SECRETS_BROKER_MASTER_KEY: the broker keeps its key in DATA_DIR/master.key. */
const GENERATED_KEY = { SECRETS_BROKER_MASTER_KEY: '' };

let cluster: PostgresCluster;
let databases = 0;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

/** A new, empty PostgreSQL database of the test cluster. */
async function newPostgresDatabase(): Promise<string> {
  databases += 1;
  const name = `missing_key_${databases}`;
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${cluster.port}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return `postgres://postgres@127.0.0.1:${cluster.port}/${name}`;
}

interface Backend {
  readonly name: string;
  /** The database URL for a new harness (undefined: SQLite in the data directory). */
  database(): Promise<string | undefined>;
  open(harness: BrokerHarness): Promise<Stores>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    database: () => Promise.resolve(undefined),
    open: (harness) => Promise.resolve(openSqliteStores(join(harness.dataDir, DATABASE_FILE))),
  },
  {
    name: 'PostgreSQL',
    database: () => newPostgresDatabase(),
    open: (harness) => openPostgresStores(harness.databaseUrl as string),
  },
];

/** Everything the database holds, as comparable text. */
async function snapshot(backend: Backend, harness: BrokerHarness): Promise<string> {
  const stores = await backend.open(harness);
  try {
    const secrets = await stores.secrets.list('');
    const tokens = await stores.adminTokens.list();
    const audit = await stores.audit.page(0, 10_000);
    const sqliteFile =
      stores.kind === 'sqlite'
        ? createHash('sha256')
            .update(await readFile(join(harness.dataDir, DATABASE_FILE)))
            .digest('hex')
        : '';
    return JSON.stringify({ secrets, tokens, audit, sqliteFile });
  } finally {
    await stores.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe.each(backends)('a missing master key file next to a used database ($name)', (backend) => {
  async function usedBroker(environment: Record<string, string>): Promise<BrokerHarness> {
    const databaseUrl = await backend.database();
    return BrokerHarness.start({
      ...(databaseUrl === undefined ? {} : { databaseUrl }),
      environment: { ...GENERATED_KEY, ...environment },
    });
  }

  it('with secrets stored: refuses to start, names the key file and how to fix it, writes nothing', async () => {
    const harness = await usedBroker({});
    try {
      const keyFile = join(harness.dataDir, 'master.key');
      expect(harness.broker.generatedKeyFile).toBe(keyFile);
      await harness.setSecret('prod/api/DB_PASSWORD', 'canary-value-1');
      await harness.stopBroker();
      await rm(keyFile);
      const before = await snapshot(backend, harness);

      const refused = harness.startBroker({}, GENERATED_KEY);
      await expect(refused).rejects.toBeInstanceOf(MasterKeyError);
      await expect(refused).rejects.toThrow(
        `the master key file ${keyFile} is missing, but the database already holds encrypted secrets, audit records (in `,
      );
      expect(await exists(keyFile)).toBe(false);

      // The same through `secrets-broker serve`: one error line, one hint line, exit 1.
      const serve = await runCli(
        [
          'serve',
          '--data-dir',
          harness.dataDir,
          '--policy',
          harness.policyFile,
          '--port',
          '0',
          ...(harness.databaseUrl === undefined ? [] : ['--database-url', harness.databaseUrl]),
        ],
        { environment: { SECRETS_BROKER_LOG_LEVEL: 'silent' } },
      );
      expect(serve.code).toBe(1);
      const lines = serve.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        new RegExp(
          `^error: the master key file ${keyFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is missing`,
        ),
      );
      expect(lines[0]).toContain('none was generated and nothing was changed');
      expect(lines[1]).toBe(
        `hint: restore master.key from your backup to ${keyFile}; or point SECRETS_BROKER_MASTER_KEY_FILE (or SECRETS_BROKER_MASTER_KEY) at the key this database was created with; or, if the key lives in another data directory, give that one with --data-dir (SECRETS_BROKER_DATA_DIR)`,
      );
      expect(await exists(keyFile)).toBe(false);
      expect(await snapshot(backend, harness)).toBe(before);
    } finally {
      await harness.close();
    }
  });

  it('with only the bootstrap owner token stored: refuses too', async () => {
    const harness = await usedBroker({ SECRETS_BROKER_BOOTSTRAP_TOKEN: '', SECRETS_BROKER_ADMIN_TOKEN: '' });
    try {
      expect(harness.broker.bootstrapToken).toBeDefined();
      await harness.stopBroker();
      const keyFile = join(harness.dataDir, 'master.key');
      await rm(keyFile);
      const before = await snapshot(backend, harness);
      await expect(harness.startBroker({}, GENERATED_KEY)).rejects.toThrow(
        `the master key file ${keyFile} is missing, but the database already holds admin tokens (in `,
      );
      expect(await exists(keyFile)).toBe(false);
      expect(await snapshot(backend, harness)).toBe(before);
    } finally {
      await harness.close();
    }
  });

  it('with nothing stored: generates a new key and starts', async () => {
    const harness = await usedBroker({});
    try {
      await harness.stopBroker();
      const keyFile = join(harness.dataDir, 'master.key');
      const first = await readFile(keyFile, 'utf8');
      await rm(keyFile);
      await harness.startBroker({}, GENERATED_KEY);
      expect(harness.broker.generatedKeyFile).toBe(keyFile);
      expect(await readFile(keyFile, 'utf8')).not.toBe(first);
    } finally {
      await harness.close();
    }
  });
});
