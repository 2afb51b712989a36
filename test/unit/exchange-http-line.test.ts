/**
 * The HTTP line of the exchange: only the route reads the Authorization header and the body (one Bearer
 * parser), the exchange service takes a typed request and is driven here by direct calls, and every exchange
 * request is counted once in secrets_broker_exchanges_total. In memory: issuer keys served in-process.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/broker/errors.js';
import type { IncomingExchange } from '../../src/broker/exchange/exchange-service.js';
import { bearerCredential } from '../../src/broker/http/bearer.js';
import { exchangeRoutes } from '../../src/broker/http/exchange-routes.js';
import type { BrokerEnv } from '../../src/broker/http/request-context.js';
import { errorHandler, requestMiddleware } from '../../src/broker/http/request-middleware.js';
import { createLogger } from '../../src/broker/logger.js';
import { TokenBuckets } from '../../src/broker/traffic/token-bucket.js';
import { newRecipient, openSealed } from '../helpers/broker-harness.js';
import { IN_MEMORY_GITHUB, startInMemoryBroker, type InMemoryBroker } from '../helpers/in-memory-broker.js';

let broker: InMemoryBroker;
let app: Hono<BrokerEnv>;

beforeAll(async () => {
  broker = await startInMemoryBroker((policy) =>
    policy.replace('rules:', 'limits:\n  per_source_ip: { rate: "0.001", burst: "4" }\nrules:'),
  );
  await broker.services.vault.put('prod/api/DB_PASSWORD', 'exchange-line-db-password');
  const { exchange, metrics } = broker.services;
  app = new Hono<BrokerEnv>()
    .use('*', requestMiddleware(undefined))
    .onError(errorHandler(createLogger('silent', { write: () => undefined })))
    .route(
      '/',
      exchangeRoutes({ exchange, policy: broker.policy, metrics, sourceLimits: new TokenBuckets() }),
    );
});

afterAll(async () => {
  await broker.close();
});

const githubToken = (...overrides: Parameters<InMemoryBroker['githubToken']>) =>
  broker.githubToken(...overrides);

async function lastAuditRecord(): Promise<Record<string, unknown>> {
  const entries = await broker.stores.audit.page(0, 10_000);
  return JSON.parse(entries.at(-1)!.record) as Record<string, unknown>;
}

async function exchangesTotal(): Promise<string[]> {
  const counted = await broker.services.metrics.exchanges.get();
  return counted.values
    .filter((value) => value.value > 0)
    .map((value) => `${value.labels.outcome}/${value.labels.code} ${value.value}`)
    .sort();
}

async function post(headers: Record<string, string>, body: string): Promise<Response> {
  return app.request('/v1/exchange', { method: 'POST', headers, body });
}

describe('the Bearer parser', () => {
  const credentialApp = new Hono().get('/', (c) => c.text(bearerCredential(c) ?? '<none>'));
  const credential = async (authorization?: string): Promise<string> =>
    (
      await credentialApp.request('/', {
        headers: authorization === undefined ? {} : { authorization },
      })
    ).text();

  it('takes the one credential of "Bearer <credential>", in any case, with spaces around it', async () => {
    expect(await credential('Bearer abc.def')).toBe('abc.def');
    expect(await credential('bearer   abc ')).toBe('abc');
    expect(await credential('BEARER abc')).toBe('abc');
  });

  it('finds none in a missing header, another scheme, two words or a tab', async () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Bearer\tabc'])
      expect(await credential(header), String(header)).toBe('<none>');
  });
});

describe('the exchange service, called directly with a typed request', () => {
  it('releases a granted secret sealed to the recipient, and audits it', async () => {
    const recipient = newRecipient();
    const request: IncomingExchange = {
      requestId: 'direct-allowed',
      sourceIp: '192.0.2.7',
      token: await githubToken(),
      recipient: recipient.publicKey,
      secrets: ['prod/api/DB_PASSWORD'],
    };
    const response = await broker.services.exchange.exchange(request);
    expect(response.request_id).toBe('direct-allowed');
    expect(openSealed(response.secrets[0]!.sealed, recipient)).toMatchObject({
      value: 'exchange-line-db-password',
    });
    expect(await lastAuditRecord()).toMatchObject({
      request_id: 'direct-allowed',
      source_ip: '192.0.2.7',
      outcome: 'allowed',
      token_verified: true,
      released: [{ name: 'prod/api/DB_PASSWORD', version: 1 }],
    });
  });

  it('audits a refusal it is handed with what the token claimed, and throws its problem', async () => {
    const problem = new BrokerError('invalid_request', 'the request body is not JSON');
    const token = await githubToken();
    await expect(
      broker.services.exchange.exchange({
        requestId: 'direct-refused',
        sourceIp: '192.0.2.8',
        token,
        problem,
      }),
    ).rejects.toBe(problem);
    expect(await lastAuditRecord()).toMatchObject({
      request_id: 'direct-refused',
      outcome: 'denied',
      code: 'invalid_request',
      token_verified: false,
      issuer_url: IN_MEMORY_GITHUB,
      claimed: { repository: 'acme/api' },
      recipient_sha256: null,
      requested: [],
      released: [],
    });
  });
});

describe('POST /v1/exchange', () => {
  it('checks the token before the body, audits both refusals as before, and counts every request once', async () => {
    // The direct calls above were no requests: the service counts nothing itself.
    expect(await exchangesTotal()).toEqual([]);

    const noToken = await post({ 'content-type': 'application/json' }, '{"recipient":');
    expect(noToken.status).toBe(401);
    expect(await noToken.json()).toMatchObject({
      code: 'invalid_token',
      detail: 'the request has no "Authorization: Bearer <OIDC ID token>" header',
    });
    expect(await lastAuditRecord()).toMatchObject({
      outcome: 'denied',
      code: 'invalid_token',
      token_verified: false,
      issuer_url: null,
      claimed: null,
      requested: [],
      requested_count: 0,
    });

    const token = await githubToken();
    const notJson = await post(
      { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      '{"recipient":',
    );
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({
      code: 'invalid_request',
      detail: 'the request body is not JSON',
    });
    expect(await lastAuditRecord()).toMatchObject({
      code: 'invalid_request',
      token_verified: false,
      issuer_url: IN_MEMORY_GITHUB,
      claimed: { repository: 'acme/api' },
    });

    const wrongType = await post({ 'content-type': 'text/plain' }, '{}');
    expect(wrongType.status).toBe(400);
    const tooLarge = await post(
      { 'content-type': 'application/json', 'content-length': String(64 * 1024 + 1) },
      '{}',
    );
    expect(tooLarge.status).toBe(413);
    // The burst of 4 is spent: this one is refused before its body is read.
    const limited = await post({ 'content-type': 'application/json' }, '{}');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).not.toBeNull();

    expect(await exchangesTotal()).toEqual([
      'denied/invalid_request 2',
      'denied/invalid_token 1',
      'denied/payload_too_large 1',
      'denied/rate_limited 1',
    ]);
  });
});
