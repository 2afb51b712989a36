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

/** The twin of an ES256 signature: (r, s) and (r, n - s) both verify. */
function malleate(token: string): string {
  const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const raw = Buffer.from(signature, 'base64url');
  const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  const twin = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
  return `${header}.${payload}.${Buffer.concat([raw.subarray(0, 32), twin]).toString('base64url')}`;
}

/** Other spellings of the same base64url bytes: stray low bits in the last character, or padding. */
function respellings(token: string): string[] {
  const parts = token.split('.') as [string, string, string];
  const variants: string[] = [];
  for (const index of [0, 1, 2]) {
    const part = parts[index] as string;
    const spelled = (text: string) => parts.map((value, at) => (at === index ? text : value)).join('.');
    variants.push(spelled(`${part}=`), spelled(`${part}==`));
    const unusedBits = part.length % 4 === 2 ? 4 : part.length % 4 === 3 ? 2 : 0;
    if (unusedBits > 0) {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(part[part.length - 1] as string);
      variants.push(spelled(`${part.slice(0, -1)}${alphabet[last ^ 1]}`));
    }
  }
  return variants;
}

describe('one signed token, one use, however it is spelled', () => {
  let es: BrokerHarness;

  beforeAll(async () => {
    es = await BrokerHarness.start({
      policy: (github, gitlab) =>
        testPolicy(github, gitlab).replace(
          `    url: ${github}\n`,
          `    url: ${github}\n    replay_key: token\n    algorithms: [RS256, ES256]\n`,
        ),
      // The ES256 key is added mid-test: let the broker refetch the issuer's keys for its unknown key id.
      issuerKeys: { minRefetchIntervalMs: 0 },
    });
    await es.setSecret('prod/api/DB_PASSWORD', 'v');
  });

  afterAll(async () => {
    await es?.close();
  });

  it('refuses every respelling of a spent token, and of a fresh one, as not canonical', async () => {
    const token = await es.github.token(githubClaims(es.github.url, TEST_AUDIENCE, { jti: undefined }));
    const variants = respellings(token);
    expect(variants.length).toBeGreaterThanOrEqual(8);
    // Before the token is spent: a respelling is refused and does not spend it.
    const early = await es.exchange(variants[0] as string, ['prod/api/DB_PASSWORD']);
    expect(early.json.code).toBe('invalid_token');
    expect((await es.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    for (const variant of variants) {
      const result = await es.exchange(variant, ['prod/api/DB_PASSWORD']);
      expect(result.status, variant).toBe(401);
      expect(result.json.code).toBe('invalid_token');
      expect(result.json.detail).toMatch(/canonical base64url|outside base64url/);
    }
  });

  it('refuses the twin signature of a spent ES256 token as a replay', async () => {
    await es.github.addKey('ES256');
    const token = await es.github.token(
      githubClaims(es.github.url, TEST_AUDIENCE, { jti: undefined, run_id: 'es' }),
    );
    expect(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).alg).toBe('ES256');
    expect((await es.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    const twin = malleate(token);
    expect(twin).not.toBe(token);
    const replay = await es.exchange(twin, ['prod/api/DB_PASSWORD']);
    expect(replay.json.code).toBe('token_replayed');
  });
});
