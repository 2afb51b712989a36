/**
 * Discovery, POST /v1/list, against the real broker (issue 16): names and current versions that the workload may
 * read now and that are stored, never a value; names no rule grants never appear; entries narrow; a rule whose
 * `when` fails grants nothing; secrets' own conditions hide nothing; the token is checked and spent, and the list
 * is audited. Plus the hostile list requests, each refused before its token is spent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_LIST_CASES } from '../fixtures/hostile/cases.js';
import { BrokerHarness, ManualClock, policyWithRules, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims, type Claims } from '../helpers/oidc-issuer.js';

const policy = policyWithRules(`  - name: api
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [prod/api/*, shared/SLACK_WEBHOOK]
  - name: office-network
    issuer: github
    claims: { repository_id: "98765" }
    when:
      source_ips: [10.0.0.0/8]
    secrets: [net/*]
`);

const VALUES = ['api-a-v1', 'api-a-v2', 'api-b', 'slack', 'not-granted', 'net-key', 'expired-value'];
let harness: BrokerHarness;
const clock = new ManualClock('2029-12-01T00:00:00Z');

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy,
    clock,
    environment: { SECRETS_BROKER_TRUST_PROXY: '127.0.0.1' },
  });
  await harness.setSecret('prod/api/A', 'api-a-v1');
  await harness.setSecret('prod/api/A', 'api-a-v2');
  await harness.setSecret('prod/api/B', 'api-b');
  await harness.setSecret('shared/SLACK_WEBHOOK', 'slack');
  await harness.setSecret('shared/OTHER', 'not-granted');
  await harness.setSecret('other/NOT_GRANTED', 'not-granted');
  await harness.setSecret('net/KEY', 'net-key');
  const expired = await harness.admin('PUT', '/secrets/prod/api/EXPIRED', {
    value: 'expired-value',
    conditions: { expires_at: '2030-01-01T00:00:00Z', max_reads: { count: 1, period_seconds: 60 } },
  });
  if (expired.status !== 201) throw new Error(expired.text);
  // Past its expiry from here on.
  clock.set('2030-02-01T00:00:00Z');
});

afterAll(async () => {
  await harness?.close();
});

const token = (overrides: Claims = {}): Promise<string> =>
  harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, overrides));

function expectNoValues(text: string): void {
  for (const value of VALUES) expect(text).not.toContain(value);
  expect(text).not.toContain('sealed');
}

describe('POST /v1/list', () => {
  it('lists every granted, stored name with its current version, sorted, and exactly that', async () => {
    const result = await harness.list(await token());
    expect(result.status, result.text).toBe(200);
    expect(result.json).toEqual({
      secrets: [
        { name: 'prod/api/A', version: 2 },
        { name: 'prod/api/B', version: 1 },
        { name: 'prod/api/EXPIRED', version: 1 },
        { name: 'shared/SLACK_WEBHOOK', version: 1 },
      ],
    });
    expectNoValues(result.text);
    expect(result.headers.get('cache-control')).toBe('no-store');
  });

  it('narrows to the entries given; one not granted or matching nothing adds nothing', async () => {
    const result = await harness.list(await token(), {
      secrets: ['prod/api/*', 'other/NOT_GRANTED', 'shared/OTHER', 'prod/web/*', 'prod/api/B?'],
    });
    expect(result.status, result.text).toBe(200);
    expect(result.json.secrets).toEqual([
      { name: 'prod/api/A', version: 2 },
      { name: 'prod/api/B', version: 1 },
      { name: 'prod/api/EXPIRED', version: 1 },
    ]);
  });

  it('a rule whose when fails grants nothing to the list; from an allowed address it does', async () => {
    const outside = await harness.list(await token(), { secrets: ['net/*'] }, undefined, {
      'x-forwarded-for': '192.0.2.1',
    });
    expect(outside.json).toEqual({ secrets: [] });
    const inside = await harness.list(await token(), {}, undefined, { 'x-forwarded-for': '10.0.0.7' });
    expect((inside.json.secrets as { name: string }[]).map((secret) => secret.name)).toContain('net/KEY');
  });

  it('a workload that no rule matches gets an empty list', async () => {
    const result = await harness.list(await token({ repository_id: '1' }));
    expect(result.status).toBe(200);
    expect(result.json).toEqual({ secrets: [] });
  });

  it('spends the token: a second use is token_replayed, and both are audited as lists', async () => {
    const used = await token();
    const first = await harness.list(used, { secrets: ['prod/api/*'] });
    expect(first.status).toBe(200);
    const again = await harness.list(used);
    expect(again.status).toBe(401);
    expect(again.json.code).toBe('token_replayed');
    const exchange = await harness.exchange(used, ['prod/api/A']);
    expect(exchange.json.code).toBe('token_replayed');

    const record = await harness.auditRecord(first.headers.get('x-request-id'));
    expect(record).toMatchObject({
      kind: 'list',
      outcome: 'allowed',
      code: null,
      token_verified: true,
      repository: 'acme/api',
      requested: ['prod/api/*'],
      rules: ['api'],
      listed: [
        { name: 'prod/api/A', version: 2 },
        { name: 'prod/api/B', version: 1 },
        { name: 'prod/api/EXPIRED', version: 1 },
      ],
      listed_count: 3,
    });
    expectNoValues(JSON.stringify(record));
    expect(await harness.auditRecord(again.json.request_id)).toMatchObject({
      kind: 'list',
      outcome: 'denied',
      code: 'token_replayed',
      listed: [],
    });
  });

  it('counts no read: a secret with a budget of one read is still released once after lists', async () => {
    const update = await harness.admin('PATCH', '/secrets/prod/api/B', {
      conditions: { max_reads: { count: 1, period_seconds: 60 } },
    });
    expect(update.status, update.text).toBe(200);
    for (let index = 0; index < 3; index += 1) expect((await harness.list(await token())).status).toBe(200);
    expect((await harness.exchange(await token(), ['prod/api/B'])).status).toBe(200);
    expect((await harness.exchange(await token(), ['prod/api/B'])).json.code).toBe('read_budget_exhausted');
  });

  it('refuses a request without a token, or with one that does not verify, with 401, audited', async () => {
    const none = await harness.list(undefined);
    expect(none.status).toBe(401);
    expect(none.json.code).toBe('invalid_token');
    expect(await harness.auditRecord(none.json.request_id)).toMatchObject({
      kind: 'list',
      outcome: 'denied',
    });
    const wrongAudience = await harness.list(await token({ aud: 'https://other.example' }));
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.json.code).toBe('invalid_token');
  });

  it('refuses a body that is not JSON by its Content-Type', async () => {
    const result = await harness.request('POST', '/v1/list', {
      headers: { authorization: `Bearer ${await token()}`, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(result.status).toBe(400);
    expect(result.json.code).toBe('invalid_request');
  });
});

describe('hostile list requests', () => {
  it.each(HOSTILE_LIST_CASES.map((hostile) => [hostile.name, hostile] as const))(
    '%s',
    async (_name, hostile) => {
      const request = await hostile.build({
        issuer: harness.github,
        rogue: harness.gitlab,
        audience: TEST_AUDIENCE,
        recipient: '',
        token: (overrides = {}) => token(overrides),
      });
      const result = await harness.request('POST', hostile.path ?? '/v1/exchange', request);
      expect(result.status, result.text).toBe(hostile.status);
      expect(result.json.code).toBe(hostile.code);
      expect(typeof result.json.hint).toBe('string');
      expectNoValues(result.text);
      // Refused for its body: the token was not spent.
      const reuse = await harness.list(request.headers.authorization?.replace('Bearer ', ''));
      expect(reuse.status).toBe(200);
    },
  );
});
