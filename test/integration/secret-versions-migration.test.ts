/**
 * Migration 4 (secret lifecycle) on a database written by the previous schema, on both stores: the stored
 * versions stay readable, with no length, fingerprint or author known, no conditions, and nothing counted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStores } from '../../src/broker/postgres/open-postgres-stores.js';
import { migrations } from '../../src/broker/sql/schema.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { PostgresCluster } from '../helpers/postgres.js';

const BEFORE_LIFECYCLE = 3;
const HEAD = `INSERT INTO secret_heads (name, last_version, current_version, updated_at)
              VALUES ('prod/A', 2, 2, '2026-01-01T00:00:00.000Z')`;
const VERSIONS = `INSERT INTO secret_versions (name, version, key_id, wrapped_key, nonce, ciphertext, created_at)
                  VALUES ('prod/A', 1, 'k1', 'w1', 'n1', 'c1', '2026-01-01T00:00:00.000Z'),
                         ('prod/A', 2, 'k1', 'w2', 'n2', 'c2', '2026-01-01T00:00:00.000Z')`;

let cluster: PostgresCluster;
let directory: string;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  directory = await mkdtemp(join(tmpdir(), 'secret-versions-migration-'));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

async function olderSqlite(): Promise<Stores> {
  const file = join(directory, 'older.db');
  const database = new Database(file);
  for (const script of migrations('sqlite').slice(0, BEFORE_LIFECYCLE)) database.exec(script);
  database.pragma(`user_version = ${BEFORE_LIFECYCLE}`);
  database.exec(HEAD);
  database.exec(VERSIONS.replaceAll(/'([wnc]\d)'/g, "X'00'"));
  database.close();
  return openSqliteStores(file);
}

async function olderPostgres(): Promise<Stores> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('CREATE DATABASE older');
  await admin.end();
  const url = cluster.url.replace(/\/broker$/, '/older');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  for (const [index, script] of migrations('postgres').slice(0, BEFORE_LIFECYCLE).entries()) {
    await client.query(script);
    await client.query('INSERT INTO schema_migrations VALUES ($1, $2)', [index + 1, 'then']);
  }
  await client.query(HEAD);
  await client.query(VERSIONS.replaceAll(/'([wnc]\d)'/g, "'\\x00'"));
  await client.end();
  return openPostgresStores(url);
}

describe.each([
  ['sqlite', olderSqlite],
  ['postgres', olderPostgres],
] as const)('migration 4 on %s', (_kind, open) => {
  it('keeps every version readable, with what was not recorded then unknown', async () => {
    const stores = await open();
    try {
      const { secrets } = stores;
      const [listed] = await secrets.list('');
      expect(listed).toMatchObject({
        name: 'prod/A',
        version: 2,
        versions: 2,
        releases: 0,
        readsInWindow: 0,
      });
      expect(listed?.conditions).toEqual({
        expiresAt: undefined,
        maxReads: undefined,
        rotateAfterReads: undefined,
        description: undefined,
        owner: undefined,
      });
      expect((await secrets.history('prod/A'))?.versions).toEqual([
        expect.objectContaining({
          version: 2,
          bytes: undefined,
          fingerprint: undefined,
          createdBy: undefined,
          current: true,
        }),
        expect.objectContaining({
          version: 1,
          bytes: undefined,
          fingerprint: undefined,
          createdBy: undefined,
          current: false,
        }),
      ]);
      const found = await secrets.find([{ name: 'prod/A', version: 1 }]);
      expect(found.map(({ version, releases }) => ({ version, releases }))).toEqual([
        { version: 1, releases: 0 },
      ]);
      expect(await secrets.updateConditions('prod/A', { rotateAfterReads: 1 })).toBe(true);
      const [current] = await secrets.find([{ name: 'prod/A', version: undefined }]);
      expect(await secrets.recordReleases([current!], 1)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([current!], 2)).toEqual({
        refused: 'rotation_required',
        name: 'prod/A',
        version: 2,
      });
    } finally {
      await stores.close();
    }
  });
});
