/**
 * One contract for the stores, run on both adapters: the embedded SQLite database and a real PostgreSQL
 * cluster. Each case gets an empty database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedValue } from '../../src/broker/store/envelope.js';
import {
  TokenAlreadyUsedError,
  type AuditEntry,
  type Stores,
  type ConditionChanges,
  type TokenUse,
  type VersionDetails,
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
/** The URL each PostgreSQL store was opened on, for a second replica of it. */
const lastUrls = new WeakMap<Stores, string>();

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
    const url = cluster.url.replace(/\/broker$/, `/${name}`);
    const stores = await openPostgresStores(url);
    lastUrls.set(stores, url);
    return stores;
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

const DETAILS: VersionDetails = { bytes: 1, fingerprint: 'f', createdBy: undefined };

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

  /** Another pool on the database `stores` opened, as a second replica would have. */
  async function openSecond(stores: Stores): Promise<Stores> {
    const url = lastUrls.get(stores) as string;
    const second = await openPostgresStores(url);
    opened.push(second);
    return second;
  }

  const store = (secrets: Stores['secrets'], name: string, details: Partial<VersionDetails> = {}) =>
    secrets.insertVersion(name, (v) => sealed('k1', `${name}@${v}`), { ...DETAILS, ...details });

  describe('secret records', () => {
    it('numbers versions per name, hands encrypt its version, and reads the current one', async () => {
      const { secrets } = await open();
      expect(await secrets.nextVersion('prod/A')).toBe(1);
      const asked: number[] = [];
      const encrypt = (text: string) => (version: number) => {
        asked.push(version);
        return sealed('k1', `${text}@${version}`);
      };
      expect(await secrets.insertVersion('prod/A', encrypt('a'), DETAILS)).toBe(1);
      expect(await secrets.insertVersion('prod/A', encrypt('a'), DETAILS)).toBe(2);
      expect(await secrets.insertVersion('prod/B', encrypt('b'), DETAILS)).toBe(1);
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
        secrets.insertVersion(
          'prod/A',
          () => {
            throw new Error('no key');
          },
          DETAILS,
        ),
      ).rejects.toThrow('no key');
      expect(await secrets.nextVersion('prod/A')).toBe(1);
      expect(await secrets.currentNames([''])).toEqual([]);
    });

    it('gives concurrent writers of one name consecutive versions', async () => {
      const { secrets } = await open();
      const versions = await Promise.all(
        Array.from({ length: 8 }, () =>
          secrets.insertVersion('prod/A', (v) => sealed('k1', `${v}`), DETAILS),
        ),
      );
      expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('lists by literal prefix with the version count, and deletes keeping history or purging it', async () => {
      const { secrets } = await open();
      for (const name of ['prod/api/A', 'prod/api/A', 'prod/apiX/B', 'prod/a%_/C', 'staging/D'])
        await secrets.insertVersion(name, (v) => sealed('k1', `${name}@${v}`), DETAILS);
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

      expect(await secrets.delete('prod/api/A', false)).toBe(true);
      expect(await secrets.delete('prod/api/A', false)).toBe(false);
      expect(await secrets.delete('prod/never', true)).toBe(false);
      // History is kept: the versions are still stored, not current.
      expect(await secrets.countNotUnder('k1')).toEqual({ total: 5, remaining: 0 });
      expect(await secrets.delete('prod/api/A', true)).toBe(true);
      expect(await secrets.delete('prod/api/A', true)).toBe(false);
      expect(await secrets.current(['prod/api/A'])).toEqual([]);
      expect(await secrets.currentNames([''])).not.toContain('prod/api/A');
      expect((await secrets.list('prod/api/')).length).toBe(0);
      expect(await secrets.countNotUnder('k1')).toEqual({ total: 3, remaining: 0 });
      // Versions only grow, also across a delete.
      expect(await secrets.nextVersion('prod/api/A')).toBe(3);
      expect(await secrets.insertVersion('prod/api/A', (v) => sealed('k1', `${v}`), DETAILS)).toBe(3);
      expect((await secrets.list('prod/api/'))[0]).toMatchObject({ version: 3, versions: 1 });
    });

    it('re-wraps only versions still under the old key, in one call', async () => {
      const { secrets } = await open();
      await secrets.insertVersion('prod/A', (v) => sealed('old', `a${v}`), DETAILS);
      await secrets.insertVersion('prod/A', (v) => sealed('old', `a${v}`), DETAILS);
      await secrets.insertVersion('prod/B', (v) => sealed('new', `b${v}`), DETAILS);
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

  describe('secret lifecycle', () => {
    const budget = (count: number, periodSeconds: number): ConditionChanges => ({
      maxReads: { count, periodSeconds },
    });
    const author = { tokenId: '0123456789abcdef', label: 'ops' };

    it('finds the current version or an exact kept one, with conditions, in the order asked', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A', { conditions: { owner: 'team-a', description: 'db' } });
      await store(secrets, 'prod/A');
      await store(secrets, 'prod/B');
      const found = await secrets.find([
        { name: 'prod/B', version: undefined },
        { name: 'prod/A', version: 1 },
        { name: 'prod/A', version: undefined },
        { name: 'prod/A', version: 7 },
        { name: 'prod/missing', version: undefined },
      ]);
      expect(found.map(({ name, version, isCurrent }) => `${name}@${version}:${isCurrent}`)).toEqual([
        'prod/B@1:true',
        'prod/A@1:false',
        'prod/A@2:true',
      ]);
      expect(found[1]?.conditions).toEqual({
        expiresAt: undefined,
        maxReads: undefined,
        rotateAfterReads: undefined,
        description: 'db',
        owner: 'team-a',
      });
      expect(found[1]?.encrypted).toEqual({ name: 'prod/A', version: 1, ...sealed('k1', 'prod/A@1') });
      expect(found[0]?.releases).toBe(0);
      expect(await secrets.find([])).toEqual([]);

      // A deleted name releases nothing, not even its kept versions; a purged version is gone.
      expect(await secrets.delete('prod/A', false)).toBe(true);
      expect(await secrets.find([{ name: 'prod/A', version: 1 }])).toEqual([]);
      expect(await secrets.version('prod/A', 1)).toEqual({
        name: 'prod/A',
        version: 1,
        ...sealed('k1', 'prod/A@1'),
      });
      expect(await secrets.delete('prod/A', true)).toBe(true);
      expect(await secrets.version('prod/A', 1)).toBeUndefined();
      // Numbering continues after a purge, and the conditions were cleared with the delete.
      expect(await store(secrets, 'prod/A')).toBe(3);
      expect(
        (await secrets.find([{ name: 'prod/A', version: undefined }]))[0]?.conditions.owner,
      ).toBeUndefined();
    });

    it('sets, changes and clears conditions without a new version, only on a current secret', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A');
      const all: ConditionChanges = {
        expiresAt: '2030-01-01T00:00:00.000Z',
        maxReads: { count: 5, periodSeconds: 3600 },
        rotateAfterReads: 10,
        description: 'the database password',
        owner: 'team-a',
      };
      expect(await secrets.updateConditions('prod/A', all)).toBe(true);
      expect((await secrets.list('prod/'))[0]).toMatchObject({ version: 1, conditions: all });
      expect(await secrets.updateConditions('prod/A', { maxReads: null, owner: null })).toBe(true);
      expect((await secrets.list('prod/'))[0]?.conditions).toEqual({
        ...all,
        maxReads: undefined,
        owner: undefined,
      });
      expect(await secrets.updateConditions('prod/A', {})).toBe(true);
      expect(await secrets.updateConditions('prod/missing', { owner: 'x' })).toBe(false);
      expect(await secrets.updateConditions('prod/missing', {})).toBe(false);
      await secrets.delete('prod/A', false);
      expect(await secrets.updateConditions('prod/A', { owner: 'x' })).toBe(false);
    });

    it('lists versions newest first with length, fingerprint and author, and keeps them across a delete', async () => {
      const { secrets } = await open();
      expect(await secrets.history('prod/A')).toBeUndefined();
      await store(secrets, 'prod/A', { bytes: 5, fingerprint: 'aaaaaaaaaaaa', createdBy: author });
      await store(secrets, 'prod/A', { bytes: 7, fingerprint: 'bbbbbbbbbbbb' });
      const history = await secrets.history('prod/A');
      expect(history).toMatchObject({ name: 'prod/A', currentVersion: 2, lastVersion: 2 });
      expect(history?.versions.map(({ createdAt: _createdAt, ...rest }) => rest)).toEqual([
        { version: 2, bytes: 7, fingerprint: 'bbbbbbbbbbbb', createdBy: undefined, current: true },
        { version: 1, bytes: 5, fingerprint: 'aaaaaaaaaaaa', createdBy: author, current: false },
      ]);
      await secrets.delete('prod/A', false);
      expect(await secrets.history('prod/A')).toMatchObject({ currentVersion: undefined, lastVersion: 2 });
      expect((await secrets.history('prod/A'))?.versions.map((v) => v.current)).toEqual([false, false]);
      await secrets.delete('prod/A', true);
      expect(await secrets.history('prod/A')).toEqual({
        name: 'prod/A',
        currentVersion: undefined,
        lastVersion: 2,
        versions: [],
        more: false,
      });
    });

    it('counts reads in fixed windows and refuses past the budget, counting nothing', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A', { conditions: budget(2, 60) });
      await store(secrets, 'prod/B', { conditions: budget(1, 60) });
      await store(secrets, 'prod/C');
      const [a, b, c] = await secrets.find(
        ['prod/A', 'prod/B', 'prod/C'].map((name) => ({ name, version: undefined })),
      );
      const t = 6_000; // a window starts at 6000 for a 60 s period
      // Same name twice in one call counts once.
      expect(await secrets.recordReleases([a!, a!, c!], t)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([b!], t + 10)).toMatchObject({ refused: undefined });
      // B is spent: A is not counted either.
      expect(await secrets.recordReleases([a!, b!], t + 20)).toEqual({
        refused: 'read_budget_exhausted',
        name: 'prod/B',
        retryAfterSeconds: 40,
      });
      expect((await secrets.list('prod/A', t + 20))[0]?.readsInWindow).toBe(1);
      expect(await secrets.recordReleases([a!], t + 59)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a!], t + 59)).toMatchObject({
        refused: 'read_budget_exhausted',
        retryAfterSeconds: 1,
      });
      expect((await secrets.list('prod/A', t + 59))[0]?.readsInWindow).toBe(2);
      // The next window starts afresh.
      expect(await secrets.recordReleases([a!, b!], t + 60)).toMatchObject({ refused: undefined });
      expect((await secrets.list('prod/', t + 60)).map((s) => s.readsInWindow)).toEqual([1, 1, 0]);
      // Nothing budgeted or rotating: nothing to count.
      expect(await secrets.recordReleases([c!], t)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([], t)).toMatchObject({ refused: undefined });
    });

    it('counts releases of the current version and refuses after rotateAfterReads until a new version', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A', { conditions: { rotateAfterReads: 2 } });
      await store(secrets, 'prod/B', { conditions: budget(100, 3600) });
      const current = async () =>
        secrets.find([
          { name: 'prod/A', version: undefined },
          { name: 'prod/B', version: undefined },
        ]);
      let [a, b] = await current();
      expect(await secrets.recordReleases([a!, b!], 1)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a!], 2)).toMatchObject({ refused: undefined });
      [a, b] = await current();
      expect(a?.releases).toBe(2);
      expect((await secrets.list('prod/A'))[0]?.releases).toBe(2);
      // Refused, and B's budget was not counted.
      expect(await secrets.recordReleases([b!, a!], 3)).toEqual({
        refused: 'rotation_required',
        name: 'prod/A',
        version: 1,
      });
      expect((await secrets.list('prod/B', 3))[0]?.readsInWindow).toBe(1);
      // A release counted before a refusal later in the same call is taken back.
      await store(secrets, 'prod/C', { conditions: { rotateAfterReads: 5 } });
      await store(secrets, 'prod/D', { conditions: budget(1, 3600) });
      const [c, d] = await secrets.find([
        { name: 'prod/C', version: undefined },
        { name: 'prod/D', version: undefined },
      ]);
      expect(await secrets.recordReleases([d!], 3)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([c!, d!], 4)).toMatchObject({ refused: 'read_budget_exhausted' });
      expect((await secrets.list('prod/C'))[0]?.releases).toBe(0);
      // A new version starts its own count.
      await store(secrets, 'prod/A');
      const [fresh] = await secrets.find([{ name: 'prod/A', version: undefined }]);
      expect(fresh?.releases).toBe(0);
      expect(await secrets.recordReleases([fresh!], 5)).toMatchObject({ refused: undefined });
    });

    it('counts releases of every version of a rotating name: an older one is refused after its limit too', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A', { conditions: { rotateAfterReads: 2 } });
      await store(secrets, 'prod/A');
      const [old, current] = await secrets.find([
        { name: 'prod/A', version: 1 },
        { name: 'prod/A', version: undefined },
      ]);
      expect(old?.isCurrent).toBe(false);
      // Two versions of one name in one call: each counted once.
      expect(await secrets.recordReleases([old!, old!, current!], 1)).toEqual({
        refused: undefined,
        counted: {
          versions: [
            { name: 'prod/A', version: 1 },
            { name: 'prod/A', version: 2 },
          ],
          windows: [],
        },
      });
      expect(await secrets.recordReleases([old!], 2)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([old!], 3)).toEqual({
        refused: 'rotation_required',
        name: 'prod/A',
        version: 1,
      });
      // The current version has its own count: one release so far.
      expect(await secrets.recordReleases([current!], 4)).toMatchObject({ refused: undefined });
      expect((await secrets.list('prod/A'))[0]?.releases).toBe(2);
    });

    it('counts secrets expiring in a time range among current ones', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/soon', { conditions: { expiresAt: '2030-01-03T00:00:00.000Z' } });
      await store(secrets, 'prod/later', { conditions: { expiresAt: '2030-02-01T00:00:00.000Z' } });
      await store(secrets, 'prod/past', { conditions: { expiresAt: '2029-12-01T00:00:00.000Z' } });
      await store(secrets, 'prod/never');
      await store(secrets, 'prod/gone', { conditions: { expiresAt: '2030-01-02T00:00:00.000Z' } });
      await secrets.delete('prod/gone', false);
      expect(await secrets.countExpiring('2030-01-01T00:00:00.000Z', '2030-01-08T00:00:00.000Z')).toBe(1);
    });
  });

  describe('read budgets across replicas', () => {
    it('let exactly one of many concurrent callers take the last read, and none past it', async () => {
      const first = await open();
      // A second connection (pool) to the same database: another replica.
      const second = kind === 'postgres' ? await openSecond(first) : first;
      await store(first.secrets, 'prod/A', { conditions: { maxReads: { count: 3, periodSeconds: 3600 } } });
      const [found] = await first.secrets.find([{ name: 'prod/A', version: undefined }]);
      expect(await first.secrets.recordReleases([found!], 100)).toMatchObject({ refused: undefined });
      expect(await first.secrets.recordReleases([found!], 100)).toMatchObject({ refused: undefined });
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          (index % 2 === 0 ? first : second).secrets.recordReleases([found!], 100),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.refused === undefined)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.refused === 'read_budget_exhausted')).toHaveLength(9);
      expect((await second.secrets.list('prod/', 100))[0]?.readsInWindow).toBe(3);
    });

    it('let exactly one of many concurrent callers take the last release before rotation', async () => {
      const first = await open();
      const second = kind === 'postgres' ? await openSecond(first) : first;
      await store(first.secrets, 'prod/A', { conditions: { rotateAfterReads: 1 } });
      const [found] = await first.secrets.find([{ name: 'prod/A', version: undefined }]);
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          (index % 2 === 0 ? first : second).secrets.recordReleases([found!], 100),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.refused === undefined)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.refused === 'rotation_required')).toHaveLength(9);
    });
  });

  describe("counting with the token's single use", () => {
    const budgeted = async (stores: Stores, name: string, count: number) => {
      await store(stores.secrets, name, { conditions: { maxReads: { count, periodSeconds: 3600 } } });
      const [found] = await stores.secrets.find([{ name, version: undefined }]);
      return found!;
    };

    it('records the token with the counts: a replayed token counts nothing, and a refusal records nothing', async () => {
      const stores = await open();
      const { secrets, audit } = stores;
      const a = await budgeted(stores, 'prod/A', 2);
      expect(await secrets.recordReleases([a], 100, use('jti-1'))).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a], 100, use('jti-1'))).toEqual({ refused: 'token_replayed' });
      expect((await secrets.list('prod/A', 100))[0]?.readsInWindow).toBe(1);
      // The counting transaction recorded the token: an audit append with it is a replay.
      await expect(audit.append('{}', link, use('jti-1'))).rejects.toBeInstanceOf(TokenAlreadyUsedError);
      // A token the audit recorded first is a replay for counting too.
      await audit.append('{}', link, use('jti-2'));
      expect(await secrets.recordReleases([a], 100, use('jti-2'))).toEqual({ refused: 'token_replayed' });
      // Refused for the budget: neither the count nor the token's use is written.
      expect(await secrets.recordReleases([a], 100, use('jti-3'))).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a], 100, use('jti-4'))).toMatchObject({
        refused: 'read_budget_exhausted',
      });
      await audit.append('{}', link, use('jti-4'));
      // Nothing to count: the token's use is left to the audit record.
      await store(secrets, 'prod/plain');
      const [plain] = await secrets.find([{ name: 'prod/plain', version: undefined }]);
      expect(await secrets.recordReleases([plain!], 100, use('jti-5'))).toEqual({
        refused: undefined,
        counted: undefined,
      });
      await audit.append('{}', link, use('jti-5'));
    });

    it('counts exactly one of many concurrent copies of one token, across replicas', async () => {
      const first = await open();
      const second = kind === 'postgres' ? await openSecond(first) : first;
      const a = await budgeted(first, 'prod/A', 100);
      await store(first.secrets, 'prod/R', { conditions: { rotateAfterReads: 100 } });
      const [r] = await first.secrets.find([{ name: 'prod/R', version: undefined }]);
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          (index % 2 === 0 ? first : second).secrets.recordReleases([a, r!], 100, use('jti-copied')),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.refused === undefined)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.refused === 'token_replayed')).toHaveLength(9);
      const listed = await second.secrets.list('prod/', 100);
      expect(listed.map(({ name, readsInWindow, releases }) => ({ name, readsInWindow, releases }))).toEqual([
        { name: 'prod/A', readsInWindow: 1, releases: 0 },
        { name: 'prod/R', readsInWindow: 0, releases: 1 },
      ]);
    });

    it('takes back what a call counted, and only that', async () => {
      const stores = await open();
      const { secrets } = stores;
      const a = await budgeted(stores, 'prod/A', 5);
      await store(secrets, 'prod/R', { conditions: { rotateAfterReads: 1 } });
      const [r] = await secrets.find([{ name: 'prod/R', version: undefined }]);
      await secrets.recordReleases([a], 100);
      const outcome = await secrets.recordReleases([a, r!], 100, use('jti-1'));
      if (outcome.refused !== undefined || outcome.counted === undefined) throw new Error('not counted');
      await secrets.undoReleases(outcome.counted);
      const counts = async () =>
        (await secrets.list('prod/', 100)).map(({ readsInWindow, releases }) => [readsInWindow, releases]);
      expect(await counts()).toEqual([
        [1, 0],
        [0, 0],
      ]);
      // The token stays used; the release it took back can be made again.
      expect(await secrets.recordReleases([a, r!], 100, use('jti-1'))).toEqual({ refused: 'token_replayed' });
      expect(await secrets.recordReleases([r!], 100, use('jti-2'))).toMatchObject({ refused: undefined });
      // Taking back twice does not go below zero.
      await secrets.undoReleases(outcome.counted);
      await secrets.undoReleases(outcome.counted);
      expect(await counts()).toEqual([
        [0, 0],
        [0, 0],
      ]);
    });

    it('keeps the window a replica with a clock behind still counts in', async () => {
      const stores = await open();
      const { secrets } = stores;
      const a = await budgeted(stores, 'prod/A', 2);
      const window = 3600 * 10;
      expect(await secrets.recordReleases([a], window + 10)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a], window + 20)).toMatchObject({ refused: undefined });
      // A replica whose clock is in the next window counts there ...
      expect(await secrets.recordReleases([a], window + 3600)).toMatchObject({ refused: undefined });
      // ... and one still in the previous window finds its budget spent.
      expect(await secrets.recordReleases([a], window + 3599)).toMatchObject({
        refused: 'read_budget_exhausted',
      });
      // Two windows on, the old ones go.
      expect(await secrets.recordReleases([a], window + 7200)).toMatchObject({ refused: undefined });
      expect(await secrets.recordReleases([a], window + 10)).toMatchObject({ refused: undefined });
    });
  });

  describe('reads without ciphertext, bounded', () => {
    it('reads the current version numbers of names, leaving out deleted and unknown ones', async () => {
      const { secrets } = await open();
      await store(secrets, 'prod/A');
      await store(secrets, 'prod/A');
      await store(secrets, 'prod/B');
      await store(secrets, 'prod/gone');
      await secrets.delete('prod/gone', false);
      const versions = await secrets.currentVersions(['prod/B', 'prod/A', 'prod/gone', 'prod/missing']);
      expect([...versions].sort((x, y) => (x.name < y.name ? -1 : 1))).toEqual([
        { name: 'prod/A', version: 2 },
        { name: 'prod/B', version: 1 },
      ]);
      expect(await secrets.currentVersions([])).toEqual([]);
    });

    it('lists at most the newest versions asked for, saying when older ones are kept', async () => {
      const { secrets } = await open();
      for (let i = 0; i < 4; i += 1) await store(secrets, 'prod/A');
      const capped = await secrets.history('prod/A', 3);
      expect(capped?.versions.map((v) => v.version)).toEqual([4, 3, 2]);
      expect(capped?.more).toBe(true);
      expect((await secrets.history('prod/A', 4))?.more).toBe(false);
      expect((await secrets.history('prod/A'))?.versions).toHaveLength(4);
    });
  });

  if (kind === 'sqlite') {
    it('purges a version leaving none of its ciphertext or wrapped key in the database file or its log', async () => {
      const file = join(directory, `purge-${(databases += 1)}.db`);
      const stores = openSqliteStores(file);
      opened.push(stores);
      // Random bytes: found in a file only if they were written there. A large value fills overflow pages.
      const secret = (size: number): EncryptedValue => ({
        keyId: 'k1',
        wrappedKey: randomBytes(40),
        nonce: randomBytes(12),
        ciphertext: randomBytes(size),
      });
      const inFile = secret(20_000);
      const inLog = secret(300);
      await stores.secrets.insertVersion('prod/A', () => inFile, DETAILS);
      // Copy it into the database file, then leave the next version in the log only.
      const other = new Database(file);
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.close();
      await stores.secrets.insertVersion('prod/A', () => inLog, DETAILS);
      const anyLeft = async (value: EncryptedValue): Promise<string[]> => {
        const files = await Promise.all([readFile(file), readFile(`${file}-wal`)]);
        const pieces = [value.wrappedKey];
        for (let at = 0; at + 16 <= value.ciphertext.length; at += 16)
          pieces.push(value.ciphertext.subarray(at, at + 16));
        return pieces.flatMap((piece, index) =>
          files.some((content) => content.includes(piece)) ? [String(index)] : [],
        );
      };
      expect(await anyLeft(inFile)).not.toEqual([]);
      expect(await anyLeft(inLog)).not.toEqual([]);
      expect(await stores.secrets.delete('prod/A', true)).toBe(true);
      expect(await anyLeft(inFile)).toEqual([]);
      expect(await anyLeft(inLog)).toEqual([]);
      expect(await stores.secrets.version('prod/A', 1)).toBeUndefined();
    });
  }

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
    await stores.secrets.insertVersion('prod/A', (v) => sealed('k1', `${v}`), DETAILS);
    await stores.audit.append('{}', link);
    expect(await stores.secrets.currentNames([''])).toEqual(['prod/A']);
  });
});
