/** The hostile-input corpus against the live broker: the right error for each case, and nothing changed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_CASES, type HostileContext } from '../fixtures/hostile/cases.js';
import { BrokerHarness, newRecipient, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims, TestIssuer } from '../helpers/oidc-issuer.js';

let harness: BrokerHarness;
let rogue: TestIssuer;
let context: HostileContext;
let auditBefore: number;
/** Valid tokens that went out with requests refused before their token was checked: they must still work. */
const unspentTokens: string[] = [];

beforeAll(async () => {
  harness = await BrokerHarness.start();
  rogue = await new TestIssuer().start();
  await harness.setSecret('prod/api/DB_PASSWORD', 'hostile-test-value');
  auditBefore = (await harness.broker.stores.audit.page(0, 10_000)).length;
  context = {
    issuer: harness.github,
    rogue,
    audience: TEST_AUDIENCE,
    recipient: newRecipient().publicKey.toString('base64'),
    token: (overrides = {}, expiresIn) =>
      harness.github.token(
        githubClaims(harness.github.url, TEST_AUDIENCE, overrides),
        expiresIn === undefined ? {} : { expiresIn },
      ),
  };
});

afterAll(async () => {
  await rogue?.stop();
  await harness?.close();
});

describe('hostile input', () => {
  it('has at least 60 cases', () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(HOSTILE_CASES.map((hostile) => [hostile.name, hostile] as const))('%s', async (_name, hostile) => {
    const request = await hostile.build(context);
    const result = await harness.request('POST', '/v1/exchange', request);
    expect(result.status, result.text).toBe(hostile.status);
    expect(result.headers.get('content-type')).toBe('application/problem+json');
    expect(result.json.code).toBe(hostile.code);
    expect(typeof result.json.detail).toBe('string');
    expect(result.text).not.toContain('"sealed"');
    expect(result.text).not.toContain('hostile-test-value');
    expect(result.text).not.toMatch(/at .*\.(ts|js):\d+/);
    if (hostile.code === 'invalid_request' || hostile.code === 'payload_too_large') {
      const token = request.headers.authorization?.replace('Bearer ', '');
      if (token !== undefined) unspentTokens.push(token);
    }
  });

  it('changed nothing: the secret is as it was, nothing was released, and refused requests spent no token', async () => {
    expect((await harness.admin('GET', '/secrets')).json.secrets).toMatchObject([
      { name: 'prod/api/DB_PASSWORD', version: 1, versions: 1 },
    ]);
    const records = (await harness.broker.stores.audit.page(0, 10_000))
      .slice(auditBefore)
      .map((entry) => JSON.parse(entry.record) as Record<string, unknown>);
    expect(records.filter((record) => record.kind === 'exchange' && record.outcome === 'allowed')).toEqual(
      [],
    );
    expect(
      records
        .filter((record) => record.kind === 'exchange')
        .every((record) => (record.released as unknown[]).length === 0),
    ).toBe(true);
    expect(unspentTokens.length).toBeGreaterThan(40);
    // A request refused for its body never consumed its (valid) token.
    const reuse = await harness.exchange(unspentTokens[0]!, ['prod/api/DB_PASSWORD']);
    expect(reuse.status).toBe(200);
  });
});
