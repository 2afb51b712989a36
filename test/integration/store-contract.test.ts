/**
 * One contract for the stores, run on both adapters: the embedded SQLite database and a real PostgreSQL
 * cluster. Each case gets an empty database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedValue } from '../../src/broker/store/envelope.js';
import {
  TokenAlreadyUsedError,
  type AuditEntry,
  type Stores,
  type TokenUse,
} from '../../src/broker/store/interfaces.js';
import { openPostgresStores } from '../../src/broker/postgres/open-postgres-stores.js';
import { SqlAuditRecords } from '../../src/broker/sql/sql-audit-records.js';
import type { SqlDatabase } from '../../src/broker/sql/statement.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { EventLoopTurns } from '../helpers/event-loop-turns.js';
import { PostgresCluster } from '../helpers/postgres.js';

let cluster: PostgresCluster;
let directory: string;
let databases = 0;
const opened: Stores[] = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  directory = await mkdtemp(join(tmpdir(), 'store-contract-'));
}, 120_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((stores) => stores.close()));
});

afterAll(async () => {
  await cluster?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

const adapters: Record<'sqlite' | 'postgres', () => Promise<Stores>> = {
  sqlite: async () => openSqliteStores(join(directory, `broker-${(databases += 1)}.db`)),
  postgres: async () => {
    const name = `contract_${(databases += 1)}`;
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return openPostgresStores(cluster.url.replace(/\/broker$/, `/${name}`));
  },
};

/** A recognisable "ciphertext": the store keeps bytes, it never opens them. */
function sealed(keyId: string, text: string): EncryptedValue {
  return {
    keyId,
    wrappedKey: Buffer.from(`wrapped ${text}`),
    nonce: Buffer.from(`nonce ${text}`),
    ciphertext: Buffer.from(text),
  };
}

const link = (prevHash: string, record: string): string => `${prevHash.slice(0, 8)}>${record.length}`;
const use = (jti: string, expiresAtSeconds = 2_000): TokenUse => ({
  issuer: 'https://issuer.example',
  jtiHash: jti,
  expiresAtSeconds,
});
const seqs = (entries: readonly AuditEntry[]): number[] => entries.map((entry) => entry.seq);

describe.each(['sqlite', 'postgres'] as const)('stores on %s', (kind) => {
  async function open(): Promise<Stores> {
    const stores = await adapters[kind]();
    opened.push(stores);
    expect(stores.kind).toBe(kind);
    return stores;
  }

  describe('secret records', () => {
    it('numbers versions per name, hands encrypt its version, and reads the current one', async () => {
      const { secrets } = await open();
      expect(await secrets.nextVersion('prod/A')).toBe(1);
      const asked: number[] = [];
      const encrypt = (text: string) => (version: number) => {
        asked.push(version);
        return sealed('k1', `${text}@${version}`);
      };
      expect(await secrets.insertVersion('prod/A', encrypt('a'))).toBe(1);
      expect(await secrets.insertVersion('prod/A', encrypt('a'))).toBe(2);
      expect(await secrets.insertVersion('prod/B', encrypt('b'))).toBe(1);
      expect(asked).toEqual([1, 2, 1]);
      expect(await secrets.nextVersion('prod/A')).toBe(3);
      // In the order asked for; a name without a current version is left out.
      const current = await secrets.current(['prod/B', 'prod/missing', 'prod/A']);
      expect(current).toEqual([
        { name: 'prod/B', version: 1, ...sealed('k1', 'b@1') },
        { name: 'prod/A', version: 2, ...sealed('k1', 'a@2') },
      ]);
      expect(await secrets.current([])).toEqual([]);
      expect(await secrets.currentNames([''])).toEqual(['prod/A', 'prod/B']);
    });

    it('writes nothing when encrypt throws', async () => {
      const { secrets } = await open();
      await expect(
        secrets.insertVersion('prod/A', () => {
          throw new Error('no key');
        }),
      ).rejects.toThrow('no key');
      expect(await secrets.nextVersion('prod/A')).toBe(1);
      expect(await secrets.currentNames([''])).toEqual([]);
    });

    it('gives concurrent writers of one name consecutive versions', async () => {
      const { secrets } = await open();
      const versions = await Promise.all(
        Array.from({ length: 8 }, () => secrets.insertVersion('prod/A', (v) => sealed('k1', `${v}`))),
      );
      expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('lists by literal prefix with the version count, and deletes every version', async () => {
      const { secrets } = await open();
      for (const name of ['prod/api/A', 'prod/api/A', 'prod/apiX/B', 'prod/a%_/C', 'staging/D'])
        await secrets.insertVersion(name, (v) => sealed('k1', `${name}@${v}`));
      const listed = await secrets.list('prod/api/');
      expect(listed.map(({ name, version, versions }) => ({ name, version, versions }))).toEqual([
        { name: 'prod/api/A', version: 2, versions: 2 },
      ]);
      expect(listed[0]?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      // LIKE wildcards in a prefix are plain characters.
      expect((await secrets.list('prod/a%_')).map((s) => s.name)).toEqual(['prod/a%_/C']);
      expect((await secrets.list('')).map((s) => s.name)).toEqual([
        'prod/a%_/C',
        'prod/api/A',
        'prod/apiX/B',
        'staging/D',
      ]);

      expect(await secrets.delete('prod/api/A')).toBe(true);
      expect(await secrets.delete('prod/api/A')).toBe(false);
      expect(await secrets.delete('prod/never')).toBe(false);
      expect(await secrets.current(['prod/api/A'])).toEqual([]);
      expect(await secrets.currentNames([''])).not.toContain('prod/api/A');
      expect((await secrets.list('prod/api/')).length).toBe(0);
      expect(await secrets.countNotUnder('k1')).toEqual({ total: 3, remaining: 0 });
      // Versions only grow, also across a delete.
      expect(await secrets.nextVersion('prod/api/A')).toBe(3);
      expect(await secrets.insertVersion('prod/api/A', (v) => sealed('k1', `${v}`))).toBe(3);
      expect((await secrets.list('prod/api/'))[0]).toMatchObject({ version: 3, versions: 1 });
    });

    it('re-wraps only versions still under the old key, in one call', async () => {
      const { secrets } = await open();
      await secrets.insertVersion('prod/A', (v) => sealed('old', `a${v}`));
      await secrets.insertVersion('prod/A', (v) => sealed('old', `a${v}`));
      await secrets.insertVersion('prod/B', (v) => sealed('new', `b${v}`));
      expect((await secrets.keyIdsInUse()).sort()).toEqual(['new', 'old']);
      expect(await secrets.countNotUnder('new')).toEqual({ total: 3, remaining: 2 });

      const stale = await secrets.listNotUnder('new', 10);
      expect(stale.map(({ name, version }) => `${name}@${version}`)).toEqual(['prod/A@1', 'prod/A@2']);
      expect(await secrets.listNotUnder('new', 1)).toHaveLength(1);
      const rewrapped = stale.map((record) => ({
        record: { ...record, ...sealed('new', `re-${record.name}@${record.version}`) },
        fromKeyId: 'old',
      }));
      // The second update names a key the version is no longer under: it changes nothing.
      const raced = { ...rewrapped[0]!, fromKeyId: 'other' };
      expect(await secrets.replaceEncryption([rewrapped[0]!, raced])).toBe(1);
      expect(await secrets.replaceEncryption(rewrapped)).toBe(1);
      expect(await secrets.replaceEncryption([])).toBe(0);
      expect(await secrets.countNotUnder('new')).toEqual({ total: 3, remaining: 0 });
      expect(await secrets.keyIdsInUse()).toEqual(['new']);
      expect(await secrets.current(['prod/A'])).toEqual([
        { name: 'prod/A', version: 2, ...sealed('new', 're-prod/A@2') },
      ]);
    });

    it('counts an empty store as nothing to re-wrap', async () => {
      const { secrets } = await open();
      expect(await secrets.countNotUnder('k1')).toEqual({ total: 0, remaining: 0 });
      expect(await secrets.listNotUnder('k1', 10)).toEqual([]);
      expect(await secrets.keyIdsInUse()).toEqual([]);
      expect(await secrets.list('')).toEqual([]);
    });
  });

  describe('audit records', () => {
    it('links appends into one chain from the genesis hash and reports its head', async () => {
      const { audit } = await open();
      expect(await audit.head()).toBeUndefined();
      expect(await audit.page(0, 10)).toEqual([]);
      const first = await audit.append('{"kind":"one"}', link);
      expect(first).toEqual({
        seq: 1,
        record: '{"kind":"one"}',
        prevHash: '0'.repeat(64),
        hash: link('0'.repeat(64), '{"kind":"one"}'),
      });
      const [second, third] = await Promise.all([
        audit.append('{"kind":"two"}', link),
        audit.append('{"kind":"three"}', link),
      ]);
      expect(second?.prevHash).toBe(first.hash);
      expect(third?.prevHash).toBe(second?.hash);
      expect(await audit.head()).toEqual({ seq: 3, hash: third?.hash });
      expect(await audit.page(0, 10)).toEqual([first, second, third]);
      expect(seqs(await audit.page(1, 1))).toEqual([2]);
      expect(await audit.page(3, 10)).toEqual([]);
    });

    it('records a token use with its record, once: a replay writes nothing', async () => {
      const { audit, replay } = await open();
      await audit.append('{"kind":"exchange"}', link, use('jti-1'));
      await expect(audit.append('{"kind":"again"}', link, use('jti-1'))).rejects.toBeInstanceOf(
        TokenAlreadyUsedError,
      );
      // The same token twice in one batch: only the first counts.
      const both = await Promise.allSettled([
        audit.append('{"kind":"a"}', link, use('jti-2')),
        audit.append('{"kind":"b"}', link, use('jti-2')),
      ]);
      expect(both[0]?.status).toBe('fulfilled');
      expect(both[1]?.status === 'rejected' && both[1].reason).toBeInstanceOf(TokenAlreadyUsedError);
      expect((await audit.page(0, 10)).map((entry) => entry.record)).toEqual([
        '{"kind":"exchange"}',
        '{"kind":"a"}',
      ]);
      expect(await audit.head()).toMatchObject({ seq: 2 });

      // Purging forgets only tokens that expired before the given time.
      await audit.append('{"kind":"late"}', link, use('jti-3', 5_000));
      expect(await replay.purgeExpired(2_000, 100)).toEqual({ purged: 0, next: undefined });
      // A batch looks at `window` tokens in key order and says where the next one starts.
      const key = (jtiHash: string) => ({ issuer: 'https://issuer.example', jtiHash });
      expect(await replay.purgeExpired(2_001, 1)).toEqual({ purged: 1, next: key('jti-1') });
      expect(await replay.purgeExpired(2_001, 2, key('jti-1'))).toEqual({ purged: 1, next: key('jti-3') });
      expect(await replay.purgeExpired(2_001, 2, key('jti-3'))).toEqual({ purged: 0, next: undefined });
      await expect(audit.append('{}', link, use('jti-3', 5_000))).rejects.toBeInstanceOf(
        TokenAlreadyUsedError,
      );
      await audit.append('{"kind":"used again after purge"}', link, use('jti-1'));
      expect(await replay.purgeExpired(10_000, 100)).toEqual({ purged: 2, next: undefined });
    });

    it('filters queries by every field, and pages after a sequence number', async () => {
      const { audit } = await open();
      const records = [
        {
          time: '2024-01-01T00:00:00.000Z',
          kind: 'exchange',
          outcome: 'granted',
          repository: 'o/a',
          request_id: 'r1',
          rules: ['deploy', 'read'],
          requested: ['prod/A', 'prod/B?'],
          released: [{ name: 'prod/A', version: 1 }],
        },
        {
          time: '2024-01-02T00:00:00.000Z',
          kind: 'exchange',
          outcome: 'denied',
          repository: 'o/b',
          request_id: 'r2',
          rules: [],
          requested: ['prod/C'],
        },
        {
          time: '2024-01-03T00:00:00.000Z',
          kind: 'admin',
          outcome: 'granted',
          target: 'prod/C',
          request_id: 'r3',
        },
        {
          time: '2024-01-04T00:00:00.000Z',
          kind: 'exchange',
          outcome: 'granted',
          repository: 'o/a',
          request_id: 'r4',
          rules: ['read'],
          requested: ['prod/*'],
          released: [{ name: 'prod/B', version: 2 }],
        },
      ];
      for (const record of records) await audit.append(JSON.stringify(record), link);
      const found = async (filter: Parameters<typeof audit.query>[0], after = 0, limit = 100) =>
        seqs(await audit.query(filter, after, limit));

      expect(await found({})).toEqual([1, 2, 3, 4]);
      expect(await found({ since: '2024-01-02T00:00:00.000Z' })).toEqual([2, 3, 4]);
      expect(await found({ until: '2024-01-02T00:00:00.000Z' })).toEqual([1]);
      expect(await found({ kind: 'admin' })).toEqual([3]);
      expect(await found({ outcome: 'denied' })).toEqual([2]);
      expect(await found({ repository: 'o/a' })).toEqual([1, 4]);
      expect(await found({ requestId: 'r3' })).toEqual([3]);
      expect(await found({ rule: 'read' })).toEqual([1, 4]);
      expect(await found({ rule: 'rea' })).toEqual([]);
      // Requested (plain or optional), released, or the target of an admin call.
      expect(await found({ secret: 'prod/A' })).toEqual([1]);
      expect(await found({ secret: 'prod/B' })).toEqual([1, 4]);
      expect(await found({ secret: 'prod/C' })).toEqual([2, 3]);
      expect(await found({ secret: 'prod/*' })).toEqual([4]);
      expect(await found({ secret: 'prod/' })).toEqual([]);
      expect(
        await found({ kind: 'exchange', outcome: 'granted', repository: 'o/a', rule: 'deploy' }),
      ).toEqual([1]);
      expect(await found({ kind: 'exchange' }, 1, 1)).toEqual([2]);
      expect(await found({ kind: 'exchange' }, 2, 100)).toEqual([4]);
      // A value is compared as text, never read as SQL or a pattern.
      expect(await found({ repository: "o/a' OR '1'='1" })).toEqual([]);
      expect(await found({ repository: 'o/%' })).toEqual([]);
      const [entry] = await audit.query({ requestId: 'r2' }, 0, 1);
      expect(entry).toEqual((await audit.page(1, 1))[0]);
    });
  });

  describe('audit queries over a long log', () => {
    it('search it a window at a time, letting the event loop turn between windows, and find every match once', async () => {
      const stores = await open();
      for (let index = 1; index <= 20; index += 1)
        await stores.audit.append(JSON.stringify({ kind: 'test', request_id: `r${index % 7}` }), link);
      const database = (stores.audit as unknown as { database: SqlDatabase }).database;
      // Each statement notes how many turns the event loop has had when it is sent.
      const turnsSeen: number[] = [];
      const turns = new EventLoopTurns();
      const audit = new SqlAuditRecords(
        { ...database, run: (what, work) => (turnsSeen.push(turns.count), database.run(what, work)) },
        3,
      );
      let found: AuditEntry[];
      try {
        found = await audit.query({ requestId: 'r3' }, 0, 100);
      } finally {
        turns.stop();
      }
      expect(seqs(found)).toEqual([3, 10, 17]);
      // The newest record's number, then ceil(20 / 3) windows, each a turn of the event loop after the last.
      expect(turnsSeen).toHaveLength(1 + 7);
      for (let index = 2; index < turnsSeen.length; index += 1)
        expect(turnsSeen[index]!).toBeGreaterThan(turnsSeen[index - 1]!);
      expect(seqs(await audit.query({ requestId: 'r3' }, 3, 1))).toEqual([10]);
      expect(seqs(await audit.query({ requestId: 'r3' }, 17, 100))).toEqual([]);
    });
  });

  describe('admin tokens', () => {
    it('stores, finds, lists in creation order, counts and revokes once', async () => {
      const { adminTokens } = await open();
      expect(await adminTokens.count()).toBe(0);
      expect(await adminTokens.list()).toEqual([]);
      const hash = randomBytes(32);
      const second = {
        id: 'tok-b',
        label: 'ci',
        role: 'auditor',
        tokenHash: randomBytes(32),
        createdAt: '2024-01-02T00:00:00.000Z',
      } as const;
      const first = {
        id: 'tok-a',
        label: 'me',
        role: 'owner',
        tokenHash: hash,
        createdAt: '2024-01-01T00:00:00.000Z',
      } as const;
      await adminTokens.insert(second);
      await adminTokens.insert(first);
      await expect(adminTokens.insert(first)).rejects.toThrow();
      expect(await adminTokens.count()).toBe(2);
      expect(await adminTokens.find('tok-a')).toEqual({ ...first, revokedAt: undefined });
      expect(await adminTokens.find('tok-missing')).toBeUndefined();
      expect((await adminTokens.list()).map((token) => token.id)).toEqual(['tok-a', 'tok-b']);

      expect(await adminTokens.revoke('tok-b', '2024-02-01T00:00:00.000Z')).toBe(true);
      expect(await adminTokens.revoke('tok-b', '2024-03-01T00:00:00.000Z')).toBe(false);
      expect(await adminTokens.revoke('tok-missing', '2024-03-01T00:00:00.000Z')).toBe(false);
      expect(await adminTokens.find('tok-b')).toMatchObject({ revokedAt: '2024-02-01T00:00:00.000Z' });
      expect(await adminTokens.count()).toBe(2);
    });
  });

  describe('meta settings', () => {
    it('reads back what was set, the last value winning', async () => {
      const { meta } = await open();
      expect(await meta.get('key_version')).toBeUndefined();
      await meta.set('key_version', '1');
      await meta.set('key_version', '2');
      await meta.set('other', '');
      expect(await meta.get('key_version')).toBe('2');
      expect(await meta.get('other')).toBe('');
    });
  });

  it('answers a ping, and a database reopened keeps what was written', async () => {
    const stores = await open();
    await stores.ping();
    await stores.secrets.insertVersion('prod/A', (v) => sealed('k1', `${v}`));
    await stores.audit.append('{}', link);
    expect(await stores.secrets.currentNames([''])).toEqual(['prod/A']);
  });
});
