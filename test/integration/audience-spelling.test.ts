/**
 * The broker compares an http(s) audience in the clients' one spelling: a policy audience with a trailing slash
 * matches the audience the action and secrets-fetch request by default (the normalised broker-url), and the
 * reverse; another host or path is still refused, with the code and hint it had. Exchange and explain agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/broker/explain/explain.js';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { runCli } from '../helpers/cli.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

const SECRET = 'prod/api/DB_PASSWORD';
const WITH_SLASH = `${TEST_AUDIENCE}/`;
let slashPolicy: BrokerHarness;
let plainPolicy: BrokerHarness;

beforeAll(async () => {
  slashPolicy = await BrokerHarness.start({
    policy: (github, gitlab) =>
      testPolicy(github, gitlab).replace(`audience: ${TEST_AUDIENCE}\n`, `audience: ${WITH_SLASH}\n`),
  });
  plainPolicy = await BrokerHarness.start();
  for (const harness of [slashPolicy, plainPolicy])
    await harness.setSecret(SECRET, 'audience-spelling-value');
});

afterAll(async () => {
  await slashPolicy?.close();
  await plainPolicy?.close();
});

const tokenFor = (harness: BrokerHarness, aud: unknown): Promise<string> =>
  harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, { aud }));

async function explainAudience(harness: BrokerHarness, token: string) {
  const run = await runCli([
    'policy',
    'explain',
    harness.policyFile,
    '--token',
    token,
    '--secret',
    SECRET,
    '--json',
  ]);
  expect(run.code, run.stderr).toBe(0);
  const explanation = JSON.parse(run.stdout) as Explanation;
  return {
    audience: explanation.token?.checks.find((entry) => entry.check === 'audience')?.result,
    refused: explanation.token?.refused,
  };
}

describe('audience spelling', () => {
  const sameAddress: [string, () => BrokerHarness, unknown][] = [
    ['policy with a trailing slash, token without', () => slashPolicy, TEST_AUDIENCE],
    ['policy without a trailing slash, token with', () => plainPolicy, WITH_SLASH],
    ['upper case host and the default port', () => slashPolicy, 'HTTPS://Secrets.Test.Example:443'],
    ['the audience in an aud array', () => plainPolicy, ['https://other.example', WITH_SLASH]],
  ];

  it.each(sameAddress)('%s: released, and explain says the audience passed', async (_, harness, aud) => {
    const token = await tokenFor(harness(), aud);
    expect(await explainAudience(harness(), token)).toEqual({ audience: 'passed', refused: null });
    const result = await harness().exchange(token, [SECRET]);
    expect(result.status, result.text).toBe(200);
  });

  const otherAddress: [string, () => BrokerHarness, string, string][] = [
    ['another host', () => slashPolicy, 'https://other.example/', WITH_SLASH],
    ['another path', () => slashPolicy, `${TEST_AUDIENCE}/other`, WITH_SLASH],
    ['another port', () => plainPolicy, `${TEST_AUDIENCE}:8443/`, TEST_AUDIENCE],
    ['http instead of https', () => plainPolicy, 'http://secrets.test.example/', TEST_AUDIENCE],
    ['a query', () => plainPolicy, `${TEST_AUDIENCE}/?`, TEST_AUDIENCE],
  ];

  it.each(otherAddress)(
    '%s: refused with the code and hint as before',
    async (_, harness, aud, policyAudience) => {
      const token = await tokenFor(harness(), aud);
      const explained = await explainAudience(harness(), token);
      const result = await harness().exchange(token, [SECRET]);
      expect(result.status).toBe(401);
      expect(result.json).toMatchObject({
        code: 'invalid_token',
        detail: `the token's audience ${JSON.stringify(aud)} does not contain the audience of issuer "github", ${JSON.stringify(policyAudience)}`,
        hint: `request the ID token with audience "${policyAudience}"`,
      });
      expect(explained).toEqual({
        audience: 'failed',
        refused: {
          check: 'audience',
          code: 'invalid_token',
          detail: result.json.detail,
          hint: result.json.hint,
        },
      });
    },
  );
});
