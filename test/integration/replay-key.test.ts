/** Issuers that set no jti (CircleCI, for one) can opt into single use per signed token. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy: (github, gitlab) =>
      testPolicy(github, gitlab).replace(
        `    url: ${github}\n`,
        `    url: ${github}\n    replay_key: token\n`,
      ),
  });
  await harness.setSecret('prod/api/DB_PASSWORD', 'v');
});

afterAll(async () => {
  await harness?.close();
});

describe('replay_key: token', () => {
  it('accepts a token without jti once, and refuses the same token again', async () => {
    const token = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { jti: undefined }),
    );
    expect((await harness.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    const replay = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expect(replay.status).toBe(401);
    expect(replay.json.code).toBe('token_replayed');
    // A second token without jti is a different token: accepted.
    const other = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { jti: undefined, run_id: '2' }),
    );
    expect((await harness.exchange(other, ['prod/api/DB_PASSWORD'])).status).toBe(200);
  });

  it('still uses the jti when the token has one', async () => {
    const first = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { jti: 'fixed-jti-1' }),
    );
    expect((await harness.exchange(first, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    // Another signature, same jti: refused.
    const again = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { jti: 'fixed-jti-1', run_id: '3' }),
    );
    expect((await harness.exchange(again, ['prod/api/DB_PASSWORD'])).json.code).toBe('token_replayed');
  });

  it('the gitlab issuer, without the setting, still requires jti', async () => {
    const token = await harness.gitlab.token({
      ...githubClaims(harness.gitlab.url, TEST_AUDIENCE),
      jti: undefined,
    });
    const result = await harness.exchange(token, ['prod/web/X']);
    expect(result.status).toBe(401);
    expect(result.json.detail).toContain('"jti"');
  });
});
