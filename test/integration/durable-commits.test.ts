/**
 * Durable commits on SQLite without the event loop waiting for the disk: the serving connection commits with
 * synchronous=NORMAL, each write waits for an fdatasync of the WAL file (held here by the test), and checkpoints
 * run in a worker thread. Nothing is answered, and no secret released, before its write is on disk; a failed
 * sync releases nothing and stops every later write.
 */
import { randomBytes } from 'node:crypto';
import { fstatSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { Checkpointer } from '../../src/broker/sqlite/checkpointer.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { StoreUnavailableError, type Stores } from '../../src/broker/store/interfaces.js';
import { masterKeyFromBytes, parseMasterKey } from '../../src/broker/store/master-key.js';
import { eventually } from '../helpers/eventually.js';
import { HeldDisk, someTurns, tracked } from '../helpers/held-disk.js';
import { newRecipient, openSealed, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { BROKER_CLI, Child, unconfiguredEnvironment } from '../helpers/child-process.js';
import { githubClaims, TestIssuer } from '../helpers/oidc-issuer.js';
import { startInMemoryBroker, type InMemoryBroker } from '../helpers/in-memory-broker.js';

const keys = new AuditChainKeys(masterKeyFromBytes(randomBytes(32)));
const PADDING = 'p'.repeat(2000);

let directory: string;
let disk: HeldDisk;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'durable-'));
  disk = new HeldDisk();
});

afterEach(async () => {
  disk.passThrough = true;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(directory, { recursive: true, force: true });
});

function open(file = join(directory, 'broker.db'), checkpoints = {}): Stores {
  const stores = openSqliteStores(file, { syncFile: disk.sync, checkpoints });
  cleanups.push(() => stores.close());
  return stores;
}

function append(stores: Stores, text: string) {
  return stores.audit.append(JSON.stringify({ kind: 'test', text }), keys.link, {
    issuer: 'https://issuer.test',
    jtiHash: randomBytes(32).toString('hex'),
    expiresAtSeconds: 4_000_000_000,
  });
}

function auditRows(file: string): number {
  const database = new Database(file, { readonly: true });
  try {
    return (database.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
  } finally {
    database.close();
  }
}

describe('SQLite writes wait for the WAL sync', () => {
  it('an audit record is committed first, and its append resolves only once the sync after it finished', async () => {
    const file = join(directory, 'broker.db');
    const stores = open(file);
    const appended = tracked(append(stores, 'held'));
    await disk.held();
    // Committed (another connection sees it), not yet known to be on disk: the append still waits.
    expect(auditRows(file)).toBe(1);
    await someTurns();
    expect(appended.settled).toBe(false);
    disk.release();
    expect((await appended.promise).seq).toBe(1);
  });

  it('a failed sync fails the write, every later write and readiness; reads go on', async () => {
    const checkpointerClosed = vi.spyOn(Checkpointer.prototype, 'close');
    const stores = open();
    disk.passThrough = true;
    await append(stores, 'before');
    disk.passThrough = false;
    const failing = append(stores, 'failing');
    await disk.held();
    disk.fail();
    await expect(failing).rejects.toBeInstanceOf(StoreUnavailableError);
    // Nothing SQLite wrote since may be copied into the database file: the checkpoints stop.
    expect(checkpointerClosed).toHaveBeenCalled();
    checkpointerClosed.mockRestore();
    const syncs = disk.calls.length;
    await expect(append(stores, 'later')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(stores.meta.set('k', 'v')).rejects.toThrow(
      /no write is accepted until the broker is restarted/,
    );
    await expect(stores.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(disk.calls).toHaveLength(syncs);
    expect((await stores.audit.page(0, 10)).length).toBeGreaterThanOrEqual(1);
    // The head is published: nothing proves it is on disk any more, so it is not given.
    await expect(stores.audit.head()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('the chain head, which is published, is given only once the commit it reads is on disk', async () => {
    const file = join(directory, 'broker.db');
    const stores = open(file);
    const appended = tracked(append(stores, 'held'));
    await disk.held();
    // Committed but not synced: a head read now would publish a record a power cut could still undo.
    const head = tracked(stores.audit.head());
    await someTurns();
    expect(head.settled).toBe(false);
    disk.release();
    await appended.promise;
    await disk.held();
    disk.release();
    expect((await head.promise)?.seq).toBe(1);
  });

  it('syncs the WAL file SQLite writes, also when the database path is a link', async () => {
    await mkdir(join(directory, 'real'));
    await mkdir(join(directory, 'links'));
    const real = join(directory, 'real', 'data.db');
    new Database(real).close();
    await symlink(real, join(directory, 'links', 'broker.db'));
    const stores = open(join(directory, 'links', 'broker.db'));
    disk.passThrough = true;
    await append(stores, 'linked');
    const synced = fstatSync(disk.calls[0] as number);
    const wal = statSync(`${real}-wal`);
    expect({ dev: synced.dev, ino: synced.ino }).toEqual({ dev: wal.dev, ino: wal.ino });
  });
});

describe('SQLite checkpoints run in a worker thread', () => {
  it('the serving connection never checkpoints in a commit, however long the log grows', async () => {
    const file = join(directory, 'broker.db');
    // The worker's first round is an hour away.
    const stores = open(file, { intervalMs: 3_600_000 });
    disk.passThrough = true;
    const sizeBefore = statSync(file).size;
    // Well past SQLite's own threshold of 1000 pages, at which a commit would checkpoint on the event loop.
    for (let batch = 0; batch < 40; batch += 1)
      await Promise.all(
        Array.from({ length: 50 }, (_, index) => append(stores, `${batch}.${index} ${PADDING}`)),
      );
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(1000 * 4096);
    expect(statSync(file).size).toBe(sizeBefore);
  });

  it('the worker copies the log into the database file and has it restarted', async () => {
    const file = join(directory, 'broker.db');
    const stores = open(file, { intervalMs: 10, restartFrames: 100 });
    disk.passThrough = true;
    const sizeBefore = statSync(file).size;
    for (let batch = 0; batch < 10; batch += 1)
      await Promise.all(
        Array.from({ length: 50 }, (_, index) => append(stores, `${batch}.${index} ${PADDING}`)),
      );
    await eventually(async () => (statSync(file).size > sizeBefore ? true : undefined));
    // Restarted: once the worker has copied every frame and a writer came along, the log begins again.
    await eventually(async () => {
      await append(stores, 'after');
      const other = new Database(file);
      try {
        const [state] = other.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
        return (state?.log ?? Infinity) < 100 ? true : undefined;
      } finally {
        other.close();
      }
    });
    // Nothing was lost on the way: every record is there, and the database is sound.
    expect(auditRows(file)).toBe((await stores.audit.head())?.seq);
    const check = new Database(file, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  });
});

describe('an exchange on a SQLite store with a held disk', () => {
  let broker: InMemoryBroker;

  beforeEach(async () => {
    disk.passThrough = true;
    broker = await startInMemoryBroker(undefined, () =>
      openSqliteStores(join(directory, 'broker.db'), { syncFile: disk.sync }),
    );
    cleanups.push(() => broker.close());
    await broker.services.vault.put('prod/api/DB_PASSWORD', 'held-disk-value');
    disk.passThrough = false;
  });

  async function exchange(): Promise<Response> {
    const recipient = newRecipient();
    const response = await broker.services.app.request('/v1/exchange', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await broker.githubToken()}` },
      body: JSON.stringify({
        recipient: recipient.publicKey.toString('base64'),
        secrets: ['prod/api/DB_PASSWORD'],
      }),
    });
    if (response.status === 200) {
      const body = (await response.clone().json()) as { secrets: { sealed: string }[] };
      expect(openSealed(body.secrets[0]!.sealed, recipient)).toMatchObject({ value: 'held-disk-value' });
    }
    return response;
  }

  it('answers only once its audit record is on disk', async () => {
    const answered = tracked(exchange());
    await disk.held();
    await someTurns();
    expect(answered.settled).toBe(false);
    disk.release();
    expect((await answered.promise).status).toBe(200);
  });

  it('releases nothing when the sync fails, nor afterwards, and stops being ready', async () => {
    const answered = exchange();
    await disk.held();
    disk.fail();
    const response = await answered;
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ code: 'unavailable' });
    expect(text).not.toContain('sealed');
    const later = await exchange();
    expect(later.status).toBe(503);
    expect(await later.text()).not.toContain('sealed');
    expect((await broker.services.app.request('/readyz')).status).toBe(503);
  });
});

describe('a checkpoint worker that fails', () => {
  it('leaves the serving connection checkpointing for itself again', async () => {
    const file = join(directory, 'fallback.db');
    const database = new Database(file);
    database.pragma('journal_mode = WAL');
    const checkpointer = new Checkpointer(database, file, { intervalMs: 3_600_000 });
    try {
      expect(database.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      checkpointer['worker'].emit('error', new Error('worker crashed'));
      expect(database.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    } finally {
      await checkpointer.close();
      database.close();
    }
  });
});

describe('two broker processes on one SQLite file', () => {
  it('both serve, a token is released once, and the one chain and the file stay sound', async () => {
    const issuer = await new TestIssuer().start();
    cleanups.push(() => issuer.stop());
    const dataDir = join(directory, 'data');
    const policy = join(directory, 'policy.yaml');
    await writeFile(policy, testPolicy(issuer.url, issuer.url.replace('127.0.0.1', 'localhost')));
    const masterKey = randomBytes(32).toString('hex');
    const adminToken = randomBytes(24).toString('hex');
    const start = async () => {
      const child = new Child(
        'node',
        [...BROKER_CLI, 'serve', '--policy', policy, '--data-dir', dataDir, '--port', '0'],
        {
          env: {
            ...unconfiguredEnvironment(),
            SECRETS_BROKER_MASTER_KEY: masterKey,
            SECRETS_BROKER_BOOTSTRAP_TOKEN: adminToken,
          },
        },
      );
      cleanups.push(async () => void (await child.stop()));
      return { child, url: (await child.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]! };
    };
    const replicas = [await start(), await start()];
    const stored = await fetch(`${replicas[0]!.url}/v1/admin/secrets/prod/api/DB_PASSWORD`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'shared-file-value' }),
    });
    expect(stored.status).toBe(201);
    const exchange = async (url: string, token: string) => {
      const recipient = newRecipient();
      const response = await fetch(`${url}/v1/exchange`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          recipient: recipient.publicKey.toString('base64'),
          secrets: ['prod/api/DB_PASSWORD'],
        }),
      });
      if (response.status !== 200) return response.status;
      const body = (await response.json()) as { secrets: { sealed: string }[] };
      expect(openSealed(body.secrets[0]!.sealed, recipient)).toMatchObject({ value: 'shared-file-value' });
      return 200;
    };
    const token = () => issuer.token(githubClaims(issuer.url, TEST_AUDIENCE));
    const statuses = await Promise.all(
      Array.from({ length: 80 }, async (_, index) => exchange(replicas[index % 2]!.url, await token())),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
    const once = await token();
    expect((await Promise.all(replicas.map((replica) => exchange(replica.url, once)))).sort()).toEqual([
      200, 401,
    ]);

    for (const replica of replicas) expect(await replica.child.stop()).toBe(0);
    const file = join(dataDir, DATABASE_FILE);
    const check = new Database(file, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
    const stores = openSqliteStores(file);
    cleanups.push(() => stores.close());
    const chain = await verifyAuditChain(stores.audit, {
      keys: new AuditChainKeys(parseMasterKey(masterKey, 'test')),
    });
    expect(chain).toMatchObject({ ok: true, hashOnly: 0 });
    // Every exchange answered is in it: 80, the token's release and its refusal.
    expect(await stores.audit.query({ kind: 'exchange' }, 0, 1000)).toHaveLength(82);
  }, 120_000);
});
