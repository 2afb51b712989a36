/**
 * Paths are taken as the client sent them: a "." or ".." segment (also percent-encoded) or a backslash, which
 * the URL parser would resolve into another route (`secrets/a/../../tokens/ID` revoking a token), is refused
 * before routing, and nothing is done.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';

let harness: BrokerHarness;
let victimId: string;
let victimToken: string;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  const created = await harness.admin('POST', '/tokens', { label: 'victim', role: 'admin' });
  ({ id: victimId, token: victimToken } = created.json as { id: string; token: string });
});
afterAll(async () => {
  await harness?.close();
});

/** Sends `path` byte for byte (fetch and URL would resolve the dot segments on the client side). */
function rawRequest(method: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(harness.url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { authorization: `Bearer ${harness.adminToken}` },
      },
      (incoming) => {
        let body = '';
        incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('request paths', () => {
  it.each([
    ['DELETE', () => `/v1/admin/secrets/a/../../tokens/${victimId}`],
    ['DELETE', () => `/v1/admin/secrets/a/%2e%2e/%2E%2E/tokens/${victimId}`],
    ['DELETE', () => `/v1/admin/secrets/a/.%2e/..%2E/tokens/${victimId}`],
    ['DELETE', () => `/v1/admin/secrets/a\\..\\..\\tokens\\${victimId}`],
    ['DELETE', () => `/v1/admin/tokens/./${victimId}`],
    ['GET', () => '/v1/admin/secrets/../whoami'],
    ['PUT', () => '/v1/admin/secrets/prod/./x'],
  ])('%s %s is refused with 400 before routing, and changes nothing', async (method, path) => {
    const answer = await rawRequest(method, path());
    expect(answer.status).toBe(400);
    // Node's HTTP parser refuses some of these itself (a bare 400); the broker refuses the rest.
    if (answer.body !== '') expect(JSON.parse(answer.body)).toMatchObject({ code: 'invalid_request' });
    expect((await harness.admin('GET', '/whoami', undefined, victimToken)).status).toBe(200);
  });

  it('leaves ordinary paths, and dots inside names, alone', async () => {
    expect((await harness.setSecret('prod/a.b/..c/x..', 'dotted')) > 0).toBe(true);
    const listed = await rawRequest('GET', '/v1/admin/secrets?prefix=prod/a.b');
    expect(listed.status).toBe(200);
    expect(listed.body).toContain('prod/a.b/..c/x..');
  });
});
