import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { MasterKeyError, parseMasterKey } from '../../src/broker/store/master-key.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const token = (h: BrokerHarness): Promise<string> =>
  h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));

/** A second connection to the broker's database, as an attacker or a broken disk would change it. */
function withDatabase<T>(h: BrokerHarness, change: (database: Database.Database) => T): T {
  const database = new Database(join(h.dataDir, DATABASE_FILE));
  try {
    return change(database);
  } finally {
    database.close();
  }
}

describe('encrypted store', () => {
  it("a ciphertext copied to another secret's row fails to decrypt and nothing is released", async () => {
    const h = (harness = await BrokerHarness.start());
    await h.setSecret('prod/api/DB_PASSWORD', 'the-db-password');
    await h.setSecret('prod/api/API_KEY', 'the-api-key');
    withDatabase(h, (database) => {
      database
        .prepare(
          `UPDATE secret_versions SET (key_id, wrapped_key, nonce, ciphertext) =
             (SELECT key_id, wrapped_key, nonce, ciphertext FROM secret_versions WHERE name = 'prod/api/API_KEY')
           WHERE name = 'prod/api/DB_PASSWORD'`,
        )
        .run();
    });
    const result = await h.exchange(await token(h), ['prod/api/DB_PASSWORD', 'prod/api/API_KEY']);
    expect(result.status).toBe(503);
    expect(result.json.code).toBe('unavailable');
    expect(result.json.detail).toContain('integrity');
    expect(result.json).not.toHaveProperty('secrets');
    expect(h.logs.join('')).toContain('secret \\"prod/api/DB_PASSWORD\\" version 1 failed authentication');
    // The untouched secret still opens on its own.
    expect((await h.exchange(await token(h), ['prod/api/API_KEY'])).status).toBe(200);
  });

  it('a ciphertext moved to another version of the same secret fails too', async () => {
    const h = (harness = await BrokerHarness.start());
    await h.setSecret('prod/api/DB_PASSWORD', 'old');
    await h.setSecret('prod/api/DB_PASSWORD', 'new');
    withDatabase(h, (database) => {
      database
        .prepare(
          `UPDATE secret_versions SET (key_id, wrapped_key, nonce, ciphertext) =
             (SELECT key_id, wrapped_key, nonce, ciphertext FROM secret_versions WHERE name = 'prod/api/DB_PASSWORD' AND version = 1)
           WHERE name = 'prod/api/DB_PASSWORD' AND version = 2`,
        )
        .run();
    });
    const result = await h.exchange(await token(h), ['prod/api/DB_PASSWORD']);
    expect(result.status).toBe(503);
  });

  it('refuses to start with a master key that does not match the database, and says what to do', async () => {
    const h = (harness = await BrokerHarness.start());
    await h.setSecret('prod/api/DB_PASSWORD', 'value');
    await h.stopBroker();
    const wrongKey = randomBytes(32).toString('hex');
    const attempt = h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: wrongKey });
    await expect(attempt).rejects.toBeInstanceOf(MasterKeyError);
    await expect(attempt).rejects.toThrow(/does not match this database.*SECRETS_BROKER_MASTER_KEY/s);
    await h.startBroker();
  });

  it('keeps old versions and numbers versions past a delete', async () => {
    const h = (harness = await BrokerHarness.start());
    expect(await h.setSecret('prod/api/X', 'one')).toBe(1);
    expect(await h.setSecret('prod/api/X', 'two')).toBe(2);
    expect((await h.admin('GET', '/secrets?prefix=prod/')).json.secrets).toMatchObject([
      { name: 'prod/api/X', version: 2, versions: 2 },
    ]);
    expect((await h.admin('DELETE', '/secrets/prod/api/X')).status).toBe(200);
    expect((await h.admin('DELETE', '/secrets/prod/api/X')).status).toBe(404);
    expect((await h.admin('GET', '/secrets')).json.secrets).toEqual([]);
    const stored = (): number =>
      withDatabase(
        h,
        (database) => database.prepare('SELECT count(*) AS n FROM secret_versions').get() as { n: number },
      ).n;
    // A delete keeps the history (rollback can restore it); a purge destroys every version's data key.
    expect(stored()).toBe(2);
    expect(await h.setSecret('prod/api/X', 'kept')).toBe(3);
    expect((await h.admin('DELETE', '/secrets/prod/api/X?purge=true')).status).toBe(200);
    expect(stored()).toBe(0);
    expect(await h.setSecret('prod/api/X', 'four')).toBe(4);
  });
});

describe('audit log', () => {
  async function auditedHarness(): Promise<BrokerHarness> {
    const h = (harness = await BrokerHarness.start());
    await h.setSecret('prod/api/DB_PASSWORD', 'value');
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    expect((await h.exchange(await token(h), ['other/NOPE'])).status).toBe(403);
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    return h;
  }

  it('writes one hash-chained record per exchange with the identity and never a value', async () => {
    const h = await auditedHarness();
    const rows = withDatabase(
      h,
      (database) =>
        database.prepare('SELECT record FROM audit_log ORDER BY seq').all() as { record: string }[],
    );
    const exchanges = rows
      .map((row) => JSON.parse(row.record) as Record<string, unknown>)
      .filter((record) => record.kind === 'exchange');
    expect(exchanges).toHaveLength(3);
    expect(exchanges[0]).toMatchObject({
      outcome: 'allowed',
      code: null,
      token_verified: true,
      issuer: 'github',
      issuer_url: h.github.url,
      sub: 'repo:acme/api:environment:production',
      repository: 'acme/api',
      ref: 'refs/heads/main',
      environment: 'production',
      workflow: 'acme/api/.github/workflows/deploy.yml@refs/heads/main',
      run_id: '1234567890',
      actor: 'octocat',
      source_ip: '127.0.0.1',
      requested: ['prod/api/DB_PASSWORD'],
      released: [{ name: 'prod/api/DB_PASSWORD', version: 1 }],
      rules: ['api-deploy-prod', 'api-ci-any-branch'],
    });
    expect(exchanges[0]!.jti_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(exchanges[0]!.recipient_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof exchanges[0]!.latency_ms).toBe('number');
    expect(exchanges[1]).toMatchObject({
      outcome: 'denied',
      code: 'policy_denied',
      released: [],
      requested: ['other/NOPE'],
    });
    expect(JSON.stringify(rows)).not.toContain('"value"');
    expect((await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys })).ok).toBe(true);
  });

  it('detects an edited record and names it', async () => {
    const h = await auditedHarness();
    withDatabase(h, (database) => {
      const row = database.prepare('SELECT record FROM audit_log WHERE seq = 3').get() as { record: string };
      database
        .prepare('UPDATE audit_log SET record = ? WHERE seq = 3')
        .run(row.record.replace('"denied"', '"allowed"'));
    });
    const result = await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys });
    expect(result.ok).toBe(false);
    expect(result.problem).toEqual({
      seq: 3,
      reason: 'record 3 was edited (its content no longer matches its hash)',
    });
  });

  it('detects a deleted record and names it', async () => {
    const h = await auditedHarness();
    withDatabase(h, (database) => database.prepare('DELETE FROM audit_log WHERE seq = 2').run());
    const result = await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys });
    expect(result.ok).toBe(false);
    expect(result.problem?.reason).toBe('record 2 is missing (deleted)');
  });

  it('detects a reordered pair', async () => {
    const h = await auditedHarness();
    withDatabase(h, (database) => {
      database.transaction(() => {
        database.prepare('UPDATE audit_log SET seq = -1 WHERE seq = 2').run();
        database.prepare('UPDATE audit_log SET seq = 2 WHERE seq = 3').run();
        database.prepare('UPDATE audit_log SET seq = 3 WHERE seq = -1').run();
      })();
    });
    const result = await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys });
    expect(result.ok).toBe(false);
    expect(result.problem?.seq).toBe(2);
    expect(result.problem?.reason).toContain('does not follow record 1');
  });

  it('releases nothing and answers unavailable when the audit record cannot be written', async () => {
    const h = (harness = await BrokerHarness.start());
    await h.setSecret('prod/api/DB_PASSWORD', 'audit-failure-canary');
    withDatabase(h, (database) =>
      database.exec(
        `CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
      ),
    );
    const result = await h.exchange(await token(h), ['prod/api/DB_PASSWORD']);
    expect(result.status).toBe(503);
    expect(result.json.code).toBe('unavailable');
    expect(result.json.detail).toContain('audit record');
    expect(result.json).not.toHaveProperty('secrets');
    expect(result.text).not.toContain('sealed');
    expect((await h.request('GET', '/metrics')).text).toMatch(/secrets_broker_audit_write_failures_total 1/);
    // Admin reads are refused the same way; a write that already happened is reported as done but unaudited.
    const admin = await h.admin('GET', '/secrets');
    expect(admin.status).toBe(503);
    const write = await h.admin('PUT', '/secrets/prod/api/OTHER', { value: 'x' });
    expect(write.status).toBe(503);
    expect(write.json.detail).toContain('the change was made, but its audit record could not be written');
  });

  it('the store works after reopening: versions, audit chain and used tokens persist', async () => {
    const h = await auditedHarness();
    const used = await token(h);
    expect((await h.exchange(used, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    await h.stopBroker();
    await h.startBroker();
    expect((await h.exchange(used, ['prod/api/DB_PASSWORD'])).json.code).toBe('token_replayed');
    const stores = openSqliteStores(join(h.dataDir, DATABASE_FILE));
    try {
      const keys = new AuditChainKeys(parseMasterKey(h.masterKeyHex, 'test'));
      expect(await verifyAuditChain(stores.audit, { keys })).toMatchObject({
        ok: true,
        hashOnly: 0,
        underUnconfiguredKey: [],
      });
    } finally {
      await stores.close();
    }
  });
});
