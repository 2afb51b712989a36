/**
 * The broker's app built from its real parts (services wired as broker.ts wires them, an in-memory SQLite
 * store, the test policy, a token verifier whose issuer keys are served in-process) and driven only through
 * Hono's `app.request()`: no Node request or response, and no socket, is involved.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdminAuthFailures, DEFAULT_ADMIN_AUTH_LIMITS } from '../../src/broker/admin/admin-auth-failures.js';
import { AdminCredentials, createAdminToken } from '../../src/broker/admin/admin-credentials.js';
import { AdminService } from '../../src/broker/admin/admin-service.js';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { AuditLog } from '../../src/broker/audit/audit-log.js';
import { BOOTSTRAP_TOKEN_VARIABLE } from '../../src/broker/config.js';
import { ExchangeService } from '../../src/broker/exchange/exchange-service.js';
import { SpentTokens } from '../../src/broker/exchange/spent-tokens.js';
import { createApp, MAX_EXCHANGE_BODY_BYTES } from '../../src/broker/http/create-app.js';
import { createLogger } from '../../src/broker/logger.js';
import { createMetrics } from '../../src/broker/metrics.js';
import { TokenVerifier } from '../../src/broker/oidc/token-verifier.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { PolicyHolder } from '../../src/broker/policy/policy-holder.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { KeyRing } from '../../src/broker/store/key-ring.js';
import { KeyRotation } from '../../src/broker/store/key-rotation.js';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';
import { SecretVault } from '../../src/broker/store/secret-vault.js';
import { TokenBuckets } from '../../src/broker/traffic/token-bucket.js';
import { newRecipient, openSealed, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { githubClaims, type Claims } from '../helpers/oidc-issuer.js';

const GITHUB = 'https://github-issuer.test.example';
const GITLAB = 'https://gitlab-issuer.test.example';
const KID = 'in-memory-key';

const issuerKeys = await generateKeyPair('RS256');
const publicJwk: JWK = { ...(await exportJWK(issuerKeys.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };

/** The issuers' discovery documents and JWKS, served in-process instead of over HTTPS. */
vi.mock('../../src/protocol/bounded-request.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/protocol/bounded-request.js')>();
  return {
    ...original,
    boundedGetJson: (url: string) => {
      const { origin, pathname } = new URL(url);
      if (pathname === '/.well-known/openid-configuration')
        return Promise.resolve({ issuer: origin, jwks_uri: `${origin}/jwks` });
      if (pathname === '/jwks') return Promise.resolve({ keys: [publicJwk] });
      return Promise.reject(new original.BoundedRequestError('status', `no document at ${url}`));
    },
  };
});

const socketConnects = vi.spyOn(net.Socket.prototype, 'connect');
const serverListens = vi.spyOn(net.Server.prototype, 'listen');

const ownerToken = `in-memory-owner-${randomBytes(24).toString('hex')}`;
const logs: string[] = [];
let stores: Stores;
let verifier: TokenVerifier;
let app: ReturnType<typeof createApp>;
let vault: SecretVault;

/** The services as broker.ts creates them, on an in-memory store. */
async function buildApp(): Promise<ReturnType<typeof createApp>> {
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const policy = new PolicyHolder(parsePolicy(testPolicy(GITHUB, GITLAB), 'policy.yaml'));
  stores = openSqliteStores(':memory:');
  const masterKey = masterKeyFromBytes(randomBytes(32));
  const keyRing = new KeyRing(masterKey, [], await KeyRotation.storedVersion(stores.meta));
  vault = new SecretVault(stores.secrets, keyRing);
  const metrics = createMetrics();
  verifier = new TokenVerifier(logger);
  verifier.track(policy.current);
  const chainKeys = new AuditChainKeys(masterKey);
  const audit = new AuditLog(stores.audit, logger, chainKeys);
  const exchange = new ExchangeService({
    workloadLimits: new TokenBuckets(),
    spentTokens: new SpentTokens(),
    policy,
    verifier,
    vault,
    audit,
    metrics,
    logger,
  });
  const admin = new AdminService({
    policy,
    credentials: new AdminCredentials(stores.adminTokens, ownerToken, BOOTSTRAP_TOKEN_VARIABLE),
    tokens: stores.adminTokens,
    vault,
    audit,
    auditRecords: stores.audit,
    chainKeys,
    authFailures: new AdminAuthFailures(DEFAULT_ADMIN_AUTH_LIMITS),
    rotation: new KeyRotation(stores.secrets, keyRing, stores.meta),
    metrics,
    logger,
  });
  return createApp({
    exchange,
    admin,
    policy,
    verifier,
    stores,
    metrics,
    logger,
    version: 'test',
    sourceLimits: new TokenBuckets(),
    trustedProxies: undefined,
  });
}

beforeAll(async () => {
  app = await buildApp();
  await vault.put('prod/api/DB_PASSWORD', 'in-memory-db-password');
});

afterAll(async () => {
  verifier.stop();
  await stores.close();
  vi.restoreAllMocks();
});

function githubToken(overrides: Claims = {}): Promise<string> {
  return new SignJWT(githubClaims(GITHUB, TEST_AUDIENCE, overrides))
    .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
    .setExpirationTime('5m')
    .sign(issuerKeys.privateKey);
}

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
      authorization: `Bearer ${ownerToken}`,
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
    const victim = await createAdminToken(stores.adminTokens, 'victim', 'admin');
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

  it('opened no socket and listened on none', () => {
    expect(socketConnects).not.toHaveBeenCalled();
    expect(serverListens).not.toHaveBeenCalled();
  });
});
