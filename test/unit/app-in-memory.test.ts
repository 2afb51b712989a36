/**
 * The broker's app built from its real parts (services wired as broker.ts wires them, an in-memory SQLite
 * store, the test policy, a token verifier whose issuer keys are served in-process) and driven only through
 * Hono's `app.request()`: no Node request or response, and no socket, is involved.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdminToken } from '../../src/broker/admin/admin-credentials.js';
import { MAX_EXCHANGE_BODY_BYTES } from '../../src/broker/http/create-app.js';
import { newRecipient, openSealed } from '../helpers/broker-harness.js';
import { MAX_NAMES_READ } from '../../src/broker/exchange/release-plan.js';
import { startInMemoryBroker, type InMemoryBroker } from '../helpers/in-memory-broker.js';

const socketConnects = vi.spyOn(net.Socket.prototype, 'connect');
const serverListens = vi.spyOn(net.Server.prototype, 'listen');

let broker: InMemoryBroker;

beforeAll(async () => {
  broker = await startInMemoryBroker();
  await broker.services.vault.put('prod/api/DB_PASSWORD', 'in-memory-db-password');
});

afterAll(async () => {
  await broker.close();
  vi.restoreAllMocks();
});

const app = { request: (path: string, init?: RequestInit) => broker.services.app.request(path, init) };
const githubToken = (...overrides: Parameters<InMemoryBroker['githubToken']>) =>
  broker.githubToken(...overrides);

async function exchange(token: string, secrets: string[], recipient = newRecipient()): Promise<Response> {
  return app.request('/v1/exchange', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ recipient: recipient.publicKey.toString('base64'), secrets }),
  });
}

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return app.request(`/v1/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${broker.ownerToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** A problem document with the headers every answer carries. */
async function expectProblem(
  response: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  const problem = (await response.json()) as Record<string, unknown>;
  expect({ status: response.status, code: problem.code }).toEqual({ status, code });
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(response.headers.get('x-request-id')).toBe(problem.request_id);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  return problem;
}

describe('the app in memory', () => {
  it('releases a granted secret, sealed to the caller, with the service headers', async () => {
    const recipient = newRecipient();
    const response = await exchange(await githubToken(), ['prod/api/DB_PASSWORD'], recipient);
    const body = (await response.json()) as { request_id: string; secrets: { sealed: string }[] };
    expect(response.status).toBe(200);
    expect(openSealed(body.secrets[0]!.sealed, recipient)).toEqual({
      name: 'prod/api/DB_PASSWORD',
      version: 1,
      value: 'in-memory-db-password',
    });
    expect(response.headers.get('x-request-id')).toBe(body.request_id);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('denies a secret no rule grants, with its problem document', async () => {
    const response = await exchange(await githubToken(), ['other/NOT_GRANTED']);
    const problem = await expectProblem(response, 403, 'policy_denied');
    expect(problem).toMatchObject({
      type: 'urn:secrets-action:problem:policy_denied',
      status: 403,
      secrets: ['other/NOT_GRANTED'],
    });
  });

  it('refuses a body over the limit with 413, read from the web stream without a Content-Length', async () => {
    const flood = 'x'.repeat(MAX_EXCHANGE_BODY_BYTES + 1);
    const response = await app.request('/v1/exchange', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await githubToken()}` },
      body: new Blob([flood]).stream(),
      duplex: 'half',
    } as RequestInit);
    await expectProblem(response, 413, 'payload_too_large');
  });

  it('a body that breaks off is an error, never the part that arrived', async () => {
    // What did arrive is valid JSON on its own: taking it as the body would run a request nobody finished.
    const brokenOff = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('{"recipient":"x","secrets":[]}'));
        controller.error(new Error('the client closed the connection'));
      },
    });
    const response = await app.request('/v1/exchange', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await githubToken()}` },
      body: brokenOff,
      duplex: 'half',
    } as RequestInit);
    const problem = await expectProblem(response, 400, 'invalid_request');
    expect(problem.detail).toBe('the request body could not be read: the client closed the connection');
  });

  it('refuses a body whose Content-Length is over the limit before reading it', async () => {
    const response = await app.request('/v1/exchange', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(MAX_EXCHANGE_BODY_BYTES + 1),
      },
      body: '{}',
    });
    await expectProblem(response, 413, 'payload_too_large');
  });

  it('a ".." segment a web Request still carries (encoded past its URL parser) reaches no other route', async () => {
    // A web Request's URL has its plain and %2e dot segments resolved already; the check of Node's raw
    // target is in test/integration/raw-path.test.ts.
    const victim = await createAdminToken(broker.stores.adminTokens, 'victim', 'admin');
    const response = await admin('DELETE', `/secrets/a/..%2F..%2Ftokens%2F${victim.id}`);
    await expectProblem(response, 400, 'invalid_request');
    const whoami = await app.request('/v1/admin/whoami', {
      headers: { authorization: `Bearer ${victim.token}` },
    });
    expect(whoami.status).toBe(200);
  });

  it('answers an admin call: the secrets, listed without their values', async () => {
    const response = await admin('GET', '/secrets');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ secrets: [{ name: 'prod/api/DB_PASSWORD' }] });
    expect(text).not.toContain('in-memory-db-password');
  });

  it('takes an admin body from the web stream, and refuses one over its limit with 413', async () => {
    expect((await admin('PUT', '/secrets/prod/api/API_KEY', { value: 'in-memory-api-key' })).status).toBe(
      201,
    );
    const tooLarge = await admin('POST', '/tokens', { label: 'x'.repeat(64 * 1024), role: 'auditor' });
    await expectProblem(tooLarge, 413, 'payload_too_large');
  });

  it('refuses a pattern that would look through too many stored names, saying how to narrow it', async () => {
    const vault = broker.services.vault;
    const asked: number[] = [];
    const currentNames = vault.currentNames.bind(vault);
    vault.currentNames = async (prefixes, limit) => {
      asked.push(limit ?? Infinity);
      return Array.from({ length: limit ?? 0 }, (_, index) => `prod/api/MANY_${index}`);
    };
    try {
      const problem = await expectProblem(
        await exchange(await githubToken(), ['prod/api/*']),
        400,
        'invalid_request',
      );
      expect(problem.detail).toBe(
        `prod/api/* would have to look through more than ${MAX_NAMES_READ} stored names. Nothing was released.`,
      );
      expect(problem.hint).toMatch(/narrower patterns/);
      expect(asked).toEqual([MAX_NAMES_READ + 1]);
    } finally {
      vault.currentNames = currentNames;
    }
  });

  it('is not ready while exchanges cannot be sealed, and releases nothing then', async () => {
    expect((await app.request('/readyz')).status).toBe(200);
    const sealer = broker.services.sealer;
    // Three workers lost in a row, each while sealing.
    for (let loss = 0; loss < 3; loss += 1) {
      const underWay = sealer.seal([{ name: 'a', version: 1, value: 'v' }], newRecipient().publicKey);
      sealer['worker']?.emit('error', new Error('worker crashed'));
      await underWay.catch(() => undefined);
    }
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { sealing: string }).sealing).toMatch(/sealing thread was lost 3 times/);
    const refused = await exchange(await githubToken(), ['prod/api/DB_PASSWORD']);
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect((await refused.json()) as Record<string, unknown>).not.toHaveProperty('secrets');
  });

  it('opened no socket and listened on none', () => {
    expect(socketConnects).not.toHaveBeenCalled();
    expect(serverListens).not.toHaveBeenCalled();
  });
});
