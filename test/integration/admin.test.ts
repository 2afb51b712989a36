import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/api/DB_PASSWORD', 'admin-test-value');
  for (const role of ['owner', 'admin', 'auditor']) {
    const created = await harness.admin('POST', '/tokens', { label: `${role} token`, role });
    expect(created.status).toBe(201);
    tokens[role] = created.json.token as string;
  }
});

afterAll(async () => {
  await harness?.close();
});

async function cli(
  args: string[],
  token = tokens.owner!,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough().on('data', (chunk: Buffer) => out.push(chunk));
  const stderr = new PassThrough().on('data', (chunk: Buffer) => err.push(chunk));
  const code = await main(args, {
    stdin: Readable.from([]),
    stdout,
    stderr,
    environment: { SECRETS_BROKER_URL: harness.url, SECRETS_BROKER_ADMIN_TOKEN: token },
  });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** One call per admin action; `n` keeps names unique across roles. */
const calls: Record<string, (token: string, n: string) => Promise<number>> = {
  whoami: async (token) => (await harness.admin('GET', '/whoami', undefined, token)).status,
  'secrets.list': async (token) => (await harness.admin('GET', '/secrets', undefined, token)).status,
  'secrets.set': async (token, n) =>
    (await harness.admin('PUT', `/secrets/roles/${n}`, { value: 'v' }, token)).status,
  'secrets.delete': async (token, n) => {
    await harness.setSecret(`roles/delete-${n}`, 'v');
    return (await harness.admin('DELETE', `/secrets/roles/delete-${n}`, undefined, token)).status;
  },
  'audit.read': async (token) => (await harness.admin('GET', '/audit?limit=5', undefined, token)).status,
  'audit.verify': async (token) => (await harness.admin('GET', '/audit/verify', undefined, token)).status,
  'policy.explain': async (token) =>
    (await harness.admin('POST', '/policy/explain', { claims: { iss: harness.github.url } }, token)).status,
  'keys.rotate': async (token) => (await harness.admin('POST', '/keys/rotate', undefined, token)).status,
  'tokens.create': async (token, n) =>
    (await harness.admin('POST', '/tokens', { label: `made by ${n}`, role: 'auditor' }, token)).status,
  'tokens.list': async (token) => (await harness.admin('GET', '/tokens', undefined, token)).status,
  'tokens.revoke': async (token) => {
    const victim = await harness.admin('POST', '/tokens', { label: 'to revoke', role: 'auditor' });
    return (await harness.admin('DELETE', `/tokens/${victim.json.id as string}`, undefined, token)).status;
  },
};

const allowed: Record<string, string[]> = {
  owner: Object.keys(calls),
  admin: [
    'whoami',
    'secrets.list',
    'secrets.set',
    'secrets.delete',
    'audit.read',
    'audit.verify',
    'policy.explain',
  ],
  auditor: ['whoami', 'secrets.list', 'audit.read', 'audit.verify', 'policy.explain'],
};

describe('admin roles', () => {
  for (const role of ['owner', 'admin', 'auditor']) {
    it(`${role}: allowed and refused exactly as listed`, async () => {
      for (const [action, call] of Object.entries(calls)) {
        const status = await call(tokens[role]!, `${role}-${action}`);
        if (allowed[role]!.includes(action)) expect([200, 201], `${role} ${action}`).toContain(status);
        else expect(status, `${role} ${action}`).toBe(403);
      }
    });
  }

  it('a revoked token fails at once; an unknown one too; the refusal is audited', async () => {
    const created = await harness.admin('POST', '/tokens', { label: 'short-lived', role: 'admin' });
    const token = created.json.token as string;
    expect((await harness.admin('GET', '/whoami', undefined, token)).json).toMatchObject({
      role: 'admin',
      label: 'short-lived',
    });
    expect((await cli(['token', 'revoke', created.json.id as string])).stdout).toBe(
      `revoked token ${created.json.id as string}\n`,
    );
    const refused = await harness.admin('GET', '/whoami', undefined, token);
    expect(refused.status).toBe(401);
    expect(refused.json.code).toBe('unauthorized');
    const audit = await harness.admin(
      'GET',
      `/audit?kind=admin&outcome=denied&request_id=${refused.headers.get('x-request-id')!}`,
    );
    expect(audit.json.records).toMatchObject([
      { action: 'whoami', code: 'unauthorized', admin_token_id: null },
    ]);
    expect((await cli(['token', 'revoke', created.json.id as string])).stderr).toContain(
      'no unrevoked admin token',
    );
  });

  it('token create prints the token once; list never shows it', async () => {
    const created = await cli(['token', 'create', 'ci deployer', '--role', 'admin']);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^sbadm_/);
    expect(created.stderr).toContain('shown this once');
    const list = await cli(['token', 'list']);
    expect(list.stdout).toMatch(/ID\s+ROLE\s+LABEL\s+CREATED\s+REVOKED/);
    expect(list.stdout).toContain('ci deployer');
    expect(list.stdout).not.toContain(token.slice(-20));
    expect((await cli(['token', 'create', 'x', '--role', 'superuser'])).stderr).toContain(
      'Allowed choices are owner, admin, auditor.',
    );
  });
});

describe('audit queries', () => {
  it('filters by outcome, repository, secret, rule and time, pages, and prints a table or JSON', async () => {
    const token = (overrides = {}) =>
      harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, overrides));
    const allowedExchange = await harness.exchange(await token(), ['prod/api/DB_PASSWORD']);
    expect(allowedExchange.status).toBe(200);
    await harness.exchange(await token({ repository: 'acme/other', repository_id: '1' }), [
      'prod/api/DB_PASSWORD',
    ]);

    const json = await cli([
      'audit',
      '--kind',
      'exchange',
      '--secret',
      'prod/api/DB_PASSWORD',
      '--since',
      '1h',
      '--json',
    ]);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((record) => record.outcome)).toEqual(['allowed', 'denied']);
    expect(records[0]).toMatchObject({
      repository: 'acme/api',
      rules: ['api-deploy-prod', 'api-ci-any-branch'],
    });
    expect(typeof records[0]!.hash).toBe('string');

    const denied = await cli(['audit', '--outcome', 'denied', '--repository', 'acme/other', '--json']);
    expect(denied.stdout.trim().split('\n')).toHaveLength(1);
    expect(
      (await cli(['audit', '--rule', 'api-deploy-prod', '--json'])).stdout.trim().split('\n'),
    ).toHaveLength(1);
    expect(
      (await cli(['audit', '--request-id', allowedExchange.json.request_id as string, '--json'])).stdout,
    ).toContain('"outcome":"allowed"');
    expect((await cli(['audit', '--until', '2000-01-01T00:00:00Z', '--json'])).stdout).toBe('');

    const table = await cli(['audit', '--kind', 'exchange', '--limit', '1']);
    expect(table.stdout).toMatch(
      /^SEQ\s+TIME\s+KIND\s+OUTCOME\s+CODE\s+WHO\s+WHAT\n\d+\s+\S+\s+exchange\s+allowed\s+-\s+acme\/api\s+prod\/api\/DB_PASSWORD@v1\n$/,
    );
    const next = /--after (\d+)/.exec(table.stderr)?.[1];
    expect(next).toBeDefined();
    const second = await cli(['audit', '--kind', 'exchange', '--limit', '1', '--after', next!]);
    expect(second.stdout).toContain('denied');
    expect(second.stdout).toContain('acme/other');
    expect((await cli(['audit', '--since', 'yesterday'])).stderr).toContain('neither a time');
  });

  it('audit verify reports an intact chain, and names a broken record', async () => {
    const intact = await cli(['audit', 'verify']);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/the audit chain is intact: \d+ records verified/);
    const database = new Database(join(harness.dataDir, DATABASE_FILE));
    database
      .prepare('UPDATE audit_log SET record = replace(record, \'"time":"2\', \'"time":"1\') WHERE seq = 5')
      .run();
    database.close();
    const broken = await cli(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('the audit chain is broken at record 5: record 5 was edited');
  });
});
