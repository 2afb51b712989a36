import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  githubClaims,
  gitlabClaims,
  hs256Token,
  TestIssuer,
  tokenFromForeignKey,
  unsignedToken,
  type Claims,
} from '../helpers/oidc-issuer.js';
import { BrokerHarness, newRecipient, openSealed, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { hasUnprintable } from '../../src/protocol/printable.js';

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/api/DB_PASSWORD', 'first-version');
  await harness.setSecret('prod/api/DB_PASSWORD', 'db-password-v2');
  await harness.setSecret('prod/api/API_KEY', 'api-key-value');
  await harness.setSecret('shared/SLACK_WEBHOOK', 'https://hooks.example/T000');
  await harness.setSecret('staging/api/DB_PASSWORD', 'staging-db');
  await harness.setSecret('shared/PLATFORM_TOKEN', 'platform-token');
  await harness.setSecret('prod/web/deploy/KEY', 'web-deploy-key');
  await harness.setSecret('other/NOT_GRANTED', 'never-released');
});

afterAll(async () => {
  await harness?.close();
});

const github = (overrides: Claims = {}): Promise<string> =>
  harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, overrides));
const gitlab = (overrides: Claims = {}): Promise<string> =>
  harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE, overrides));

function expectProblem(
  result: { status: number; headers: Headers; json: Record<string, unknown> },
  status: number,
  code: string,
): void {
  expect(result.status).toBe(status);
  expect(result.headers.get('content-type')).toBe('application/problem+json');
  expect(result.json.code).toBe(code);
  expect(result.json.status).toBe(status);
  expect(typeof result.json.request_id).toBe('string');
  expectServiceHeaders(result, result.json.request_id as string);
  expect(result.json).not.toHaveProperty('stack');
  expect(JSON.stringify(result.json)).not.toMatch(/"sealed"/);
}

/** Every answer, released or refused, is uncacheable and names its request. */
function expectServiceHeaders(result: { headers: Headers }, requestId: string): void {
  expect(result.headers.get('x-request-id')).toBe(requestId);
  expect(result.headers.get('cache-control')).toBe('no-store');
  expect(result.headers.get('x-content-type-options')).toBe('nosniff');
}

describe('allowed exchanges', () => {
  it('releases a GitHub job its granted secret, sealed to its key, with name and version inside', async () => {
    const recipient = newRecipient();
    const result = await harness.exchange(await github(), ['prod/api/DB_PASSWORD'], recipient);
    expect(result.status).toBe(200);
    const secrets = result.json.secrets as { name: string; version: number; sealed: string }[];
    expect(secrets).toHaveLength(1);
    expect(secrets[0]).toMatchObject({ name: 'prod/api/DB_PASSWORD', version: 2 });
    expect(openSealed(secrets[0]!.sealed, recipient)).toEqual({
      name: 'prod/api/DB_PASSWORD',
      version: 2,
      value: 'db-password-v2',
    });
    expectServiceHeaders(result, result.json.request_id as string);
  });

  it('a box does not open with another key', async () => {
    const result = await harness.exchange(await github(), ['prod/api/DB_PASSWORD'], newRecipient());
    const sealed = (result.json.secrets as { sealed: string }[])[0]!.sealed;
    expect(() => openSealed(sealed, newRecipient())).toThrow('box does not open');
  });

  it('releases a GitLab job its granted secret through a ** grant', async () => {
    const recipient = newRecipient();
    const result = await harness.exchange(await gitlab(), ['prod/web/deploy/KEY'], recipient);
    expect(result.status).toBe(200);
    const secrets = result.json.secrets as { sealed: string }[];
    expect(openSealed(secrets[0]!.sealed, recipient)).toEqual({
      name: 'prod/web/deploy/KEY',
      version: 1,
      value: 'web-deploy-key',
    });
  });

  it('matches an array claim when any element matches', async () => {
    const allowed = await harness.exchange(await github({ groups: ['dev', 'platform'] }), [
      'shared/PLATFORM_TOKEN',
    ]);
    expect(allowed.status).toBe(200);
    const denied = await harness.exchange(await github({ groups: ['dev', 'platform-admins'] }), [
      'shared/PLATFORM_TOKEN',
    ]);
    expectProblem(denied, 403, 'policy_denied');
  });

  it('expands patterns to granted stored secrets and skips optional entries that are missing', async () => {
    const recipient = newRecipient();
    const result = await harness.exchange(
      await github(),
      ['prod/api/*', 'prod/api/MISSING?', 'shared/*?', 'other/NOT_GRANTED?'],
      recipient,
    );
    expect(result.status).toBe(200);
    const secrets = result.json.secrets as { name: string; version: number; sealed: string }[];
    expect(secrets.map((secret) => secret.name)).toEqual([
      'prod/api/API_KEY',
      'prod/api/DB_PASSWORD',
      'shared/SLACK_WEBHOOK',
    ]);
    for (const secret of secrets)
      expect(openSealed(secret.sealed, recipient)).toMatchObject({
        name: secret.name,
        version: secret.version,
      });
  });

  it('returns a secret once when a name and a pattern both ask for it', async () => {
    const result = await harness.exchange(await github(), ['prod/api/DB_PASSWORD', 'prod/api/*']);
    expect((result.json.secrets as { name: string }[]).map((secret) => secret.name)).toEqual([
      'prod/api/DB_PASSWORD',
      'prod/api/API_KEY',
    ]);
  });
});

describe('token verification', () => {
  it('refuses a token whose aud is not the policy audience', async () => {
    const result = await harness.exchange(await github({ aud: 'https://other.example' }), [
      'prod/api/DB_PASSWORD',
    ]);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('audience');
    expect(result.json.hint).toContain(TEST_AUDIENCE);
  });

  it("refuses GitHub's default audience and says which audience to request", async () => {
    const result = await harness.exchange(await github({ aud: 'https://github.com/acme' }), [
      'prod/api/DB_PASSWORD',
    ]);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.hint).toContain("GitHub's default audience");
    expect(result.json.hint).toContain(TEST_AUDIENCE);
  });

  it('refuses an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { iat: now - 400, nbf: now - 400 }),
      {
        expiresIn: -120,
      },
    );
    const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('expired');
  });

  it('refuses a token that is not valid yet', async () => {
    const now = Math.floor(Date.now() / 1000);
    const result = await harness.exchange(await github({ nbf: now + 600 }), ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('not valid yet');
  });

  it('refuses a token issued longer ago than max_token_age even when exp is still ahead', async () => {
    const now = Math.floor(Date.now() / 1000);
    const result = await harness.exchange(await github({ iat: now - 12 * 60, nbf: now - 12 * 60 }), [
      'prod/api/DB_PASSWORD',
    ]);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('max_token_age');
  });

  it('refuses a token without jti', async () => {
    const result = await harness.exchange(await github({ jti: undefined }), ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('"jti"');
  });

  it('refuses a replayed token, even for a request that would be allowed', async () => {
    const token = await github();
    expect((await harness.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
    const replay = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expectProblem(replay, 401, 'token_replayed');
    expect(replay.json.hint).toContain('fresh ID token');
  });

  it('refuses alg none', async () => {
    const result = await harness.exchange(unsignedToken(githubClaims(harness.github.url, TEST_AUDIENCE)), [
      'prod/api/DB_PASSWORD',
    ]);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('"none"');
  });

  it("refuses HS256 signed with the issuer's public key", async () => {
    const token = await hs256Token(
      githubClaims(harness.github.url, TEST_AUDIENCE),
      await harness.github.publicKeyPem(),
      harness.github.currentKid,
    );
    const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('"HS256"');
  });

  it('refuses a token whose key id the issuer does not publish', async () => {
    const token = await tokenFromForeignKey(githubClaims(harness.github.url, TEST_AUDIENCE));
    const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('not-published');
  });

  it('refuses a token signed by a published key id but another key', async () => {
    const token = await tokenFromForeignKey(
      githubClaims(harness.github.url, TEST_AUDIENCE),
      harness.github.currentKid,
    );
    const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toContain('signature');
  });

  it('refuses an issuer that is not in the policy without making any request to it', async () => {
    const rogue = await new TestIssuer().start();
    try {
      const token = await rogue.token(githubClaims(rogue.url, TEST_AUDIENCE));
      const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
      expectProblem(result, 401, 'unknown_issuer');
      expect(result.json.detail).toContain(rogue.url);
      expect(rogue.requests).toEqual([]);
    } finally {
      await rogue.stop();
    }
  });

  it('refuses a request without a bearer token and says how to get one', async () => {
    const result = await harness.exchange(undefined, ['prod/api/DB_PASSWORD']);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.hint).toContain('id-token: write');
  });

  it('refuses garbage that is not a JWT', async () => {
    expectProblem(await harness.exchange('not-a-jwt', ['prod/api/DB_PASSWORD']), 401, 'invalid_token');
  });
});

describe('policy decisions', () => {
  it('a glob "*" never crosses "/": refs/heads/* does not match a nested branch', async () => {
    const allowed = await harness.exchange(await github({ ref: 'refs/heads/feature' }), [
      'staging/api/DB_PASSWORD',
    ]);
    expect(allowed.status).toBe(200);
    const result = await harness.exchange(await github({ ref: 'refs/heads/feature/x' }), [
      'staging/api/DB_PASSWORD',
    ]);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.hint).toContain('rule "api-ci-any-branch"');
    expect(result.json.hint).toContain('claim "ref" is "refs/heads/feature/x"');
  });

  it('a claim missing from the token never matches, and the hint says which', async () => {
    const result = await harness.exchange(await github({ environment: undefined }), ['prod/api/DB_PASSWORD']);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.hint).toContain('rule "api-deploy-prod" came closest');
    expect(result.json.hint).toContain('no "environment" claim');
  });

  it('{not} refuses the negated value', async () => {
    const result = await harness.exchange(await github({ actor: 'dependabot[bot]' }), [
      'prod/api/DB_PASSWORD',
    ]);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.hint).toContain('claim "actor" is "dependabot[bot]"');
    expect(
      (await harness.exchange(await github({ actor: 'dependabot-fork' }), ['prod/api/DB_PASSWORD'])).status,
    ).toBe(200);
  });

  it('names the claim that failed with expected and actual values', async () => {
    const result = await harness.exchange(await github({ environment: 'staging' }), ['prod/api/DB_PASSWORD']);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.hint).toContain('claim "environment" is "staging" but the rule wants "production"');
  });

  it('says when the granting rule belongs to another issuer', async () => {
    const result = await harness.exchange(await gitlab(), ['prod/api/DB_PASSWORD']);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.hint).toContain('only to tokens of issuer "github"');
  });

  it('is all or nothing: one ungranted and two missing names release nothing and are all named', async () => {
    const result = await harness.exchange(await github(), [
      'prod/api/DB_PASSWORD',
      'prod/api/NOPE_1',
      'prod/api/NOPE_2',
      'other/NOT_GRANTED',
    ]);
    expectProblem(result, 403, 'policy_denied');
    expect(result.json.secrets).toEqual(['other/NOT_GRANTED', 'prod/api/NOPE_1', 'prod/api/NOPE_2']);
    expect(result.json.not_granted).toEqual(['other/NOT_GRANTED']);
    expect(result.json.not_found).toEqual(['prod/api/NOPE_1', 'prod/api/NOPE_2']);
  });

  it('answers secret_not_found naming every granted name that is not stored', async () => {
    const result = await harness.exchange(await github(), [
      'prod/api/DB_PASSWORD',
      'prod/api/NOPE_1',
      'prod/api/NOPE_2',
    ]);
    expectProblem(result, 404, 'secret_not_found');
    expect(result.json.secrets).toEqual(['prod/api/NOPE_1', 'prod/api/NOPE_2']);
    expect(result.json.detail).toContain('Nothing was released');
  });

  it('never reveals whether an ungranted secret exists', async () => {
    const stored = await harness.exchange(await github(), ['other/NOT_GRANTED']);
    const absent = await harness.exchange(await github(), ['other/NEVER_STORED']);
    expectProblem(stored, 403, 'policy_denied');
    expectProblem(absent, 403, 'policy_denied');
    const strip = (json: Record<string, unknown>): string =>
      JSON.stringify({ ...json, request_id: undefined })
        .replaceAll('NOT_GRANTED', 'X')
        .replaceAll('NEVER_STORED', 'X');
    expect(strip(stored.json)).toBe(strip(absent.json));
  });

  it('a non-optional pattern that matches nothing granted is denied; a granted but empty one is not found', async () => {
    const denied = await harness.exchange(await github(), ['other/*']);
    expectProblem(denied, 403, 'policy_denied');
    expect(denied.json.secrets).toEqual(['other/*']);
    const empty = await harness.exchange(await gitlab(), ['prod/web/nothing-here/*']);
    expectProblem(empty, 404, 'secret_not_found');
    expect(empty.json.secrets).toEqual(['prod/web/nothing-here/*']);
  });
});

describe('request validation', () => {
  it('refuses a bad recipient key', async () => {
    const result = await harness.request('POST', '/v1/exchange', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await github()}` },
      body: JSON.stringify({ recipient: 'AAAA', secrets: ['prod/api/DB_PASSWORD'] }),
    });
    expectProblem(result, 400, 'invalid_request');
    expect(result.json.detail).toContain('recipient');
  });

  it('refuses an all-zero recipient key (a small-order point)', async () => {
    const result = await harness.request('POST', '/v1/exchange', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await github()}` },
      body: JSON.stringify({
        recipient: Buffer.alloc(32).toString('base64'),
        secrets: ['prod/api/DB_PASSWORD'],
      }),
    });
    expectProblem(result, 400, 'invalid_request');
  });

  it('refuses unknown fields, bad names and non-JSON bodies', async () => {
    const token = await github();
    const recipient = newRecipient().publicKey.toString('base64');
    const extra = await harness.request('POST', '/v1/exchange', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ recipient, secrets: ['prod/api/DB_PASSWORD'], extra: 1 }),
    });
    expectProblem(extra, 400, 'invalid_request');
    expect(extra.json.detail).toContain('"extra"');
    const badName = await harness.exchange(await github(), ['prod/../api/X']);
    expectProblem(badName, 400, 'invalid_request');
    expect(badName.json.detail).toContain('".."');
    const notJson = await harness.request('POST', '/v1/exchange', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await github()}` },
      body: '{"recipient":',
    });
    expectProblem(notJson, 400, 'invalid_request');
  });

  it('refuses a body over the limit with payload_too_large', async () => {
    const result = await harness.request('POST', '/v1/exchange', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await github()}` },
      body: JSON.stringify({ recipient: 'x', secrets: ['a'.repeat(70 * 1024)] }),
    });
    expectProblem(result, 413, 'payload_too_large');
  });

  it('reads a chunked body (no Content-Length), and refuses one that grows past the limit', async () => {
    const recipient = newRecipient();
    const body = JSON.stringify({
      recipient: recipient.publicKey.toString('base64'),
      secrets: ['prod/api/API_KEY'],
    });
    const small = await chunkedPost(await github(), [body.slice(0, 20), body.slice(20)]);
    expect(small.status).toBe(200);
    expect(openSealed((small.json.secrets as { sealed: string }[])[0]!.sealed, recipient)).toMatchObject({
      value: 'api-key-value',
    });

    const token = await github();
    const flood = await chunkedPost(
      token,
      Array.from({ length: 40 }, () => 'x'.repeat(4096)),
    );
    expect(flood.status).toBe(413);
    expect(flood.json.code).toBe('payload_too_large');
    // Refused before the exchange began: the token is still unspent.
    expect((await harness.exchange(token, ['prod/api/API_KEY'])).status).toBe(200);
  });

  it('refuses an admin body over its limit with payload_too_large and a hint', async () => {
    const result = await harness.admin('PUT', '/secrets/prod/api/HUGE', { value: 'v'.repeat(300 * 1024) });
    expect(result.status).toBe(413);
    expect(result.json.code).toBe('payload_too_large');
    expect(result.json.hint).toMatch(/a secret value holds at most \d+ bytes/);
    expect((await harness.admin('GET', '/secrets?prefix=prod/api/HUGE')).json.secrets).toEqual([]);
  });
});

/** POST /v1/exchange with Transfer-Encoding: chunked, one chunk per element. */
function chunkedPost(
  token: string,
  chunks: readonly string[],
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${harness.url}/v1/exchange`,
      { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    // The broker may answer 413 and close before every chunk is written.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

describe('service endpoints', () => {
  it('serves info, health, readiness and metrics', async () => {
    const info = await harness.request('GET', '/v1/info');
    expect(info.json).toMatchObject({ audience: TEST_AUDIENCE, protocol: 1 });
    expect(info.json.issuers).toEqual([
      { name: 'github', url: harness.github.url, audience: TEST_AUDIENCE, key_binding: 'optional' },
      { name: 'gitlab', url: harness.gitlab.url, audience: TEST_AUDIENCE, key_binding: 'optional' },
    ]);
    expect((await harness.request('GET', '/healthz')).status).toBe(200);
    const ready = await harness.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    const metrics = await harness.request('GET', '/metrics');
    expect(metrics.text).toMatch(/secrets_broker_exchanges_total\{outcome="allowed",code="ok"\} \d+/);
    expect(metrics.text).toMatch(
      /secrets_broker_exchanges_total\{outcome="denied",code="policy_denied"\} \d+/,
    );
    expect(metrics.text).toContain('secrets_broker_exchange_duration_seconds_bucket');
  });

  it('answers an unknown endpoint with not_found and the same service headers', async () => {
    const result = await harness.request('GET', '/v1/nope');
    expectProblem(result, 404, 'not_found');
    expect(result.json.detail).toBe('no such endpoint: GET /v1/nope');
  });
});

describe('what a client sent comes back escaped', () => {
  const HOSTILE = 'x\u202egnp.exe\u009b31m\u2028\u001b]0;t\u0007';

  it('a verified token whose branch holds bidi and C1 characters leaves no raw one in the log or the answer', async () => {
    const token = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { ref: `refs/heads/${HOSTILE}`, repository_id: '1' }),
    );
    const logsBefore = harness.logs.length;
    const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
    expect(result.status).toBe(403);
    expect(hasUnprintable(result.text)).toBe(false);
    const logged = harness.logs.slice(logsBefore).join('');
    expect(logged).toContain('refs/heads/x\\u202egnp');
    expect(hasUnprintable(logged.replaceAll('\n', ''))).toBe(false);
  });

  it('an unknown issuer, a key id and an audience quoted in the problem are escaped and cut short', async () => {
    const cases = [
      await tokenFromForeignKey({ ...githubClaims(`https://evil.example/${HOSTILE}`, TEST_AUDIENCE) }),
      await tokenFromForeignKey(
        githubClaims(harness.github.url, TEST_AUDIENCE),
        `${HOSTILE}${'k'.repeat(500)}`,
      ),
      await harness.github.token(githubClaims(harness.github.url, `${HOSTILE}-audience`)),
    ];
    for (const token of cases) {
      const result = await harness.exchange(token, ['prod/api/DB_PASSWORD']);
      expect(result.status).toBe(401);
      const texts = `${String(result.json.detail)} ${String(result.json.hint ?? '')}`;
      expect(hasUnprintable(texts), texts).toBe(false);
      expect(texts.length).toBeLessThan(1000);
    }
  });
});
