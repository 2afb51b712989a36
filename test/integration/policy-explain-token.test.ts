/** policy explain --token makes every check the broker makes of a token (all but the signature) and says what it decides. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/broker/explain/explain.js';
import { githubClaims, tokenFromForeignKey, type Claims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { runCli } from '../helpers/cli.js';

let harness: BrokerHarness;
const SECRET = 'prod/api/DB_PASSWORD';
const now = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret(SECRET, 'explain-token-value');
});

afterAll(async () => {
  await harness?.close();
});

async function explain(token: string, ...flags: string[]) {
  return runCli(['policy', 'explain', harness.policyFile, '--token', token, '--secret', SECRET, ...flags]);
}

async function explainJson(token: string): Promise<Explanation> {
  const run = await explain(token, '--json');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Explanation;
}

/** Flips a stray low bit of the signature's last character: the same signature, spelled differently. */
function respelled(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1) as string);
  return token.slice(0, -1) + alphabet[last ^ 1];
}

const github = (overrides: Claims = {}) => githubClaims(harness.github.url, TEST_AUDIENCE, overrides);

describe('policy explain --token', () => {
  const refusals: [string, () => Promise<string>, string][] = [
    ['another audience', () => harness.github.token(github({ aud: 'https://github.com/acme' })), 'audience'],
    ['an expired token', () => harness.github.token(github(), { expiresIn: -600 }), 'expiry'],
    [
      'a token older than max_token_age',
      () => harness.github.token(github({ iat: now() - 3600, nbf: now() - 3600 })),
      'token_age',
    ],
    ['a token not valid yet', () => harness.github.token(github({ nbf: now() + 3600 })), 'not_before'],
    ['a token without jti', () => harness.github.token(github({ jti: undefined })), 'required_claims'],
    ['a respelled token', async () => respelled(await harness.github.token(github())), 'encoding'],
    [
      'a token of an issuer not in the policy',
      () => tokenFromForeignKey(githubClaims('https://evil.example', TEST_AUDIENCE)),
      'issuer',
    ],
  ];

  it.each(refusals)(
    '%s: refused at the check, code, message and hint the broker gives',
    async (_, make, check) => {
      const token = await make();
      const explanation = await explainJson(token);
      const exchange = await harness.exchange(token, [SECRET]);
      expect(exchange.status).toBeGreaterThanOrEqual(400);
      expect(explanation.token?.refused).toEqual({
        check,
        code: exchange.json.code,
        detail: exchange.json.detail,
        hint: exchange.json.hint ?? null,
      });
      expect(explanation.token?.checks.find((entry) => entry.check === check)?.result).toBe('failed');
      expect(explanation.secrets).toMatchObject([{ entry: SECRET, granted: false }]);
    },
  );

  it('a good token passes every check but the signature, which it says is not checked', async () => {
    const token = await harness.github.token(github());
    const explanation = await explainJson(token);
    expect(explanation.token?.refused).toBeNull();
    expect(explanation.token?.signature_checked).toBe(false);
    expect(explanation.token?.checks.map((entry) => `${entry.check} ${entry.result}`)).toEqual([
      'size passed',
      'encoding passed',
      'issuer passed',
      'algorithm passed',
      'signature not_checked',
      'required_claims passed',
      'audience passed',
      'issued_at passed',
      'not_before passed',
      'expiry passed',
      'token_age passed',
      'replay_key passed',
      'unused not_checked',
    ]);
    expect(explanation.secrets).toMatchObject([{ entry: SECRET, granted: true }]);
    expect((await harness.exchange(token, [SECRET])).status).toBe(200);
    // Spent now: explain cannot know it offline, and says so instead of a plain "granted".
    const again = await explain(token);
    expect(again.stdout).toContain(
      '--   unused: not checked here: only the broker knows whether this token was already used',
    );
    expect((await harness.exchange(token, [SECRET])).status).toBe(401);
  });

  it('prints the refusal and its hint first, then every check', async () => {
    const token = await harness.github.token(github({ aud: 'https://github.com/acme' }));
    const run = await explain(token);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(
      `Token: the broker would refuse it: invalid_token: the token's audience "https://github.com/acme" does not contain the audience of issuer "github", "${TEST_AUDIENCE}"`,
    );
    expect(lines[1]).toContain(
      `hint: that is GitHub's default audience; request the token with audience "${TEST_AUDIENCE}"`,
    );
    expect(run.stdout).toContain('--   signature: not checked here');
    expect(run.stdout).toContain('FAIL audience:');
    expect(run.stdout).toContain(
      `${SECRET}: DENIED: the broker refuses the token before any rule is checked (invalid_token:`,
    );
  });
});
