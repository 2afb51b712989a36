/** Faults: a full disk, and a broker killed in the middle of secret writes. */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { SecretVault } from '../../src/broker/store/secret-vault.js';
import { KeyRing } from '../../src/broker/store/key-ring.js';
import { parseMasterKey } from '../../src/broker/store/master-key.js';
import {
  BrokerHarness,
  newRecipient,
  openSealed,
  TEST_AUDIENCE,
  testPolicy,
} from '../helpers/broker-harness.js';
import { BROKER_CLI, Child, run, unconfiguredEnvironment } from '../helpers/child-process.js';
import { githubClaims, TestIssuer } from '../helpers/oidc-issuer.js';

let cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe('a full disk', () => {
  // Mounting a small tmpfs needs root, which CI has; elsewhere this test cannot run.
  it.runIf(process.getuid?.() === 0)(
    'answers unavailable and releases nothing while the disk is full, then recovers',
    async () => {
      const mount = await mkdtemp(join(tmpdir(), 'full-disk-'));
      expect((await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount])).code).toBe(0);
      cleanup.push(async () => {
        await run('umount', [mount]);
        await rm(mount, { recursive: true, force: true });
      });
      const dataDir = join(mount, 'data');
      await mkdir(dataDir);
      const h = await BrokerHarness.start({ dataDir });
      cleanup.push(() => h.close());
      await h.setSecret('prod/api/DB_PASSWORD', 'disk-full-value');
      const token = () => h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
      expect((await h.exchange(await token(), ['prod/api/DB_PASSWORD'])).status).toBe(200);

      // Fill every remaining byte.
      await run('dd', ['if=/dev/zero', `of=${join(mount, 'filler')}`, 'bs=64k']);
      const during = await h.exchange(await token(), ['prod/api/DB_PASSWORD']);
      expect(during.status).toBe(503);
      expect(during.json.code).toBe('unavailable');
      expect(during.text).not.toContain('sealed');
      expect((await h.admin('PUT', '/secrets/prod/api/NEW', { value: 'x' })).status).toBe(503);

      await rm(join(mount, 'filler'));
      expect((await h.exchange(await token(), ['prod/api/DB_PASSWORD'])).status).toBe(200);
      const chain = await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys });
      expect(chain).toMatchObject({ ok: true, hashOnly: 0, underUnconfiguredKey: [] });
    },
  );
});

describe('a broker killed during secret writes', () => {
  it('leaves every secret at an old or a new version that decrypts, never torn', async () => {
    const issuer = await new TestIssuer().start();
    cleanup.push(() => issuer.stop());
    const dataDir = await mkdtemp(join(tmpdir(), 'killed-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const policy = join(dataDir, 'policy.yaml');
    await writeFile(policy, testPolicy(issuer.url, issuer.url.replace('127.0.0.1', 'localhost')));
    const masterKey = randomBytes(32).toString('hex');
    const adminToken = randomBytes(24).toString('hex');
    const environment = {
      ...unconfiguredEnvironment(),
      SECRETS_BROKER_MASTER_KEY: masterKey,
      SECRETS_BROKER_BOOTSTRAP_TOKEN: adminToken,
    };
    const start = async () => {
      const broker = new Child(
        'node',
        [...BROKER_CLI, 'serve', '--policy', policy, '--data-dir', dataDir, '--port', '0'],
        { env: environment },
      );
      const url = (await broker.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]!;
      return { broker, url };
    };
    const first = await start();
    const written = new Map<string, Set<string>>();
    let acknowledged = 0;
    let firstAcknowledged: () => void = () => undefined;
    const someAcknowledged = new Promise<void>((resolve) => (firstAcknowledged = resolve));
    const put = async (url: string, name: string, value: string) => {
      if (!written.has(name)) written.set(name, new Set());
      written.get(name)?.add(value);
      const status = await fetch(`${url}/v1/admin/secrets/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value }),
      }).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 201 && (acknowledged += 1) === 10) firstAcknowledged();
      return status;
    };
    // Writers keep going; the broker is killed while they do.
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      const statuses: number[] = [];
      for (let round = 0; round < 40; round += 1) {
        statuses.push(
          await put(
            first.url,
            `prod/api/S${writer % 4}`,
            `writer-${writer}-round-${round}-${'x'.repeat(round * 50)}`,
          ),
        );
      }
      return statuses;
    });
    // Kill it once some writes are acknowledged, while the others are in flight.
    await someAcknowledged;
    await first.broker.stop('SIGKILL');
    const statuses = (await Promise.all(writers)).flat();
    expect(statuses.filter((status) => status === 201).length).toBeGreaterThan(0);

    const database = new Database(join(dataDir, DATABASE_FILE));
    expect(database.pragma('integrity_check', { simple: true })).toBe('ok');
    database.close();
    const stores = openSqliteStores(join(dataDir, DATABASE_FILE));
    try {
      const vault = new SecretVault(stores.secrets, new KeyRing(parseMasterKey(masterKey, 'test')));
      const current = await vault.readCurrent([...written.keys()]);
      for (const secret of current)
        expect(written.get(secret.name)?.has(secret.value), secret.name).toBe(true);
      for (const summary of await stores.secrets.list('prod/api/'))
        expect(summary.versions).toBe(summary.version);
      const chain = await verifyAuditChain(stores.audit, {
        keys: new AuditChainKeys(parseMasterKey(masterKey, 'test')),
      });
      expect(chain).toMatchObject({ ok: true, hashOnly: 0, underUnconfiguredKey: [] });
    } finally {
      await stores.close();
    }

    // And the restarted broker serves them.
    const second = await start();
    cleanup.push(async () => void (await second.broker.stop()));
    const recipient = newRecipient();
    const token = await issuer.token(githubClaims(issuer.url, TEST_AUDIENCE));
    const response = await fetch(`${second.url}/v1/exchange`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ recipient: recipient.publicKey.toString('base64'), secrets: ['prod/api/*'] }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { secrets: { name: string; sealed: string }[] };
    for (const entry of body.secrets) {
      const payload = openSealed(entry.sealed, recipient) as { name: string; value: string };
      expect(written.get(payload.name)?.has(payload.value)).toBe(true);
    }
  });
});
