/**
 * A forged or failing /v1/info never turns key binding off (issue 18, red-team finding): /v1/info is read without
 * authentication, so the clients bind every token they request whatever it says, and a list or put that cannot
 * read the run-output key fails rather than send a plain token.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSecrets } from '../../src/client/exchange-client.js';
import { listSecrets } from '../../src/client/list-client.js';
import { putOutputs } from '../../src/client/output-client.js';
import { boundAudience } from '../../src/protocol/key-binding.js';
import { BrokerHarness, policyWithRules, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

type InfoForgery = 'binding-off' | 'unavailable' | 'none';

let harness: BrokerHarness;
let proxy: Server;
let forgery: InfoForgery = 'binding-off';
let infoReads = 0;

/** Forwards everything to the broker but /v1/info, which it forges. */
function startProxy(): Promise<string> {
  proxy = createServer((incoming, outgoing) => {
    if (incoming.url === '/v1/info') infoReads += 1;
    if (incoming.url === '/v1/info' && forgery !== 'none') {
      if (forgery === 'unavailable') {
        outgoing.writeHead(503, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          service: 'secrets-broker',
          protocol: 1,
          audience: TEST_AUDIENCE,
          issuers: [{ name: 'github', url: harness.github.url, audience: TEST_AUDIENCE, key_binding: 'off' }],
        }),
      );
      return;
    }
    const upstream = httpRequest(
      `${harness.url}${incoming.url}`,
      { method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    incoming.pipe(upstream);
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)),
  );
}

let proxyUrl: string;

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy: policyWithRules(`  - name: api
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [prod/api/*, run/*]
`),
  });
  await harness.setSecret('prod/api/DB_PASSWORD', 'downgrade-canary');
  proxyUrl = await startProxy();
});

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await harness?.close();
});

/** A runner-like token source: records whether each token was bound. */
function runnerTokens() {
  const requested: string[] = [];
  return {
    requested,
    options: {
      brokerUrl: proxyUrl,
      bindableTokens: 'a test runner',
      timeoutMs: 5_000,
      retries: 1,
      sleep: () => Promise.resolve(),
      getToken: (_remainingMs: number, bindTo?: Uint8Array) => {
        const audience = bindTo === undefined ? TEST_AUDIENCE : boundAudience(TEST_AUDIENCE, bindTo);
        requested.push(audience);
        return harness.github.token(githubClaims(harness.github.url, audience));
      },
    },
  };
}

describe('a forged /v1/info does not turn key binding off', () => {
  for (const variant of ['binding-off', 'unavailable'] as const) {
    it(`an exchange still binds its token (/v1/info ${variant})`, async () => {
      forgery = variant;
      const tokens = runnerTokens();
      const result = await fetchSecrets({ ...tokens.options, entries: ['prod/api/DB_PASSWORD'] });
      expect(result.secrets.map((secret) => secret.name)).toEqual(['prod/api/DB_PASSWORD']);
      expect(tokens.requested).toHaveLength(1);
      expect(tokens.requested[0]).toMatch(/\/key-binding\/[\w-]{43}$/);
    });

    it(`a list or put without the run-output key fails and asks for no token (/v1/info ${variant})`, async () => {
      forgery = variant;
      const tokens = runnerTokens();
      await expect(listSecrets({ ...tokens.options, entries: [] })).rejects.toThrow(/run-output key/);
      await expect(
        putOutputs({ ...tokens.options, outputs: [{ name: 'digest', value: 'sha256:1' }] }),
      ).rejects.toThrow(/run-output key/);
      expect(tokens.requested).toEqual([]);
    });
  }
});

describe('one read of /v1/info', () => {
  it('a bound put reads the run-output key once: it seals to it and proves its key with it', async () => {
    forgery = 'none';
    const tokens = runnerTokens();
    const before = infoReads;
    const put = await putOutputs({ ...tokens.options, outputs: [{ name: 'digest', value: 'sha256:1' }] });
    expect(put.outputs.map((output) => output.name)).toEqual(['digest']);
    expect(tokens.requested[0]).toMatch(/\/key-binding\/[\w-]{43}$/);
    expect(infoReads - before).toBe(1);
  });
});
