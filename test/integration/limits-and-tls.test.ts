import { mkdtemp, readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { hashJti } from '../../src/broker/oidc/token-verifier.js';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { eventually } from '../helpers/eventually.js';
import { selfSignedCertificate } from '../helpers/tls-certificate.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const withLimits = (limits: string) => (github: string, gitlab: string) =>
  `${testPolicy(github, gitlab)}limits:\n${limits}`;

async function auditCount(h: BrokerHarness): Promise<number> {
  return (await h.broker.stores.audit.page(0, 100_000)).length;
}

describe('rate limits', () => {
  it('per source IP: past the burst, 429 with Retry-After, before any work or audit record', async () => {
    const h = (harness = await BrokerHarness.start({
      policy: withLimits('  per_source_ip: { rate: "0.001", burst: "3" }\n'),
    }));
    const before = await auditCount(h);
    for (let index = 0; index < 3; index += 1)
      expect((await h.exchange(undefined, ['prod/api/X'])).status).toBe(401);
    const limited = await h.exchange(undefined, ['prod/api/X']);
    expect(limited.status).toBe(429);
    expect(limited.json.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await auditCount(h)).toBe(before + 3);
    expect((await h.request('GET', '/metrics')).text).toMatch(
      /secrets_broker_exchanges_total\{outcome="denied",code="rate_limited"\} 1/,
    );
  });

  it('per workload: each repository has its own bucket, and a limited request spends no token', async () => {
    const h = (harness = await BrokerHarness.start({
      policy: withLimits('  per_workload: { rate: "0.001", burst: "2" }\n'),
    }));
    await h.setSecret('staging/api/DB_PASSWORD', 'v');
    const token = (overrides = {}) => h.github.token(githubClaims(h.github.url, TEST_AUDIENCE, overrides));
    expect((await h.exchange(await token(), ['staging/api/DB_PASSWORD'])).status).toBe(200);
    expect((await h.exchange(await token(), ['staging/api/DB_PASSWORD'])).status).toBe(200);
    const limitedToken = await token();
    const limited = await h.exchange(limitedToken, ['staging/api/DB_PASSWORD']);
    expect(limited.status).toBe(429);
    expect(limited.json.hint).toContain('limits.per_workload');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const used = h.broker.stores.audit;
    const last = JSON.parse((await used.page(0, 1000)).at(-1)!.record) as Record<string, unknown>;
    expect(last).toMatchObject({ outcome: 'denied', code: 'rate_limited', repository: 'acme/api' });
    const jti = (
      JSON.parse(Buffer.from(limitedToken.split('.')[1]!, 'base64url').toString()) as { jti: string }
    ).jti;
    const database = new Database(join(h.dataDir, DATABASE_FILE), { readonly: true });
    const spent = database
      .prepare('SELECT count(*) AS n FROM used_tokens WHERE jti_sha256 = ?')
      .get(hashJti(jti)) as { n: number };
    database.close();
    expect(spent.n).toBe(0);
    // Another repository has its own bucket.
    expect(
      (await h.exchange(await token({ repository: 'acme/web' }), ['staging/api/DB_PASSWORD'])).status,
    ).toBe(200);
  });

  it('refuses a malformed limits section with its line', async () => {
    await expect(
      BrokerHarness.start({ policy: withLimits('  per_source_ip: { rate: "fast", burst: "3" }\n') }),
    ).rejects.toThrow(/limits\.per_source_ip\.rate: must be a positive number/);
  });
});

describe('source address behind a proxy', () => {
  async function sourceIpFor(h: BrokerHarness, forwardedFor: string | undefined): Promise<unknown> {
    await h.request('POST', '/v1/exchange', {
      headers: {
        'content-type': 'application/json',
        ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
      },
      body: '{}',
    });
    return (JSON.parse((await h.broker.stores.audit.page(0, 1000)).at(-1)!.record) as Record<string, unknown>)
      .source_ip;
  }

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', async () => {
    const h = (harness = await BrokerHarness.start());
    expect(await sourceIpFor(h, '203.0.113.9')).toBe('127.0.0.1');
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' });
    expect(await sourceIpFor(h, '203.0.113.9')).toBe('203.0.113.9');
    expect(await sourceIpFor(h, '198.51.100.7, 10.1.2.3')).toBe('198.51.100.7');
    expect(await sourceIpFor(h, 'spoofed, 198.51.100.8')).toBe('198.51.100.8');
    expect(await sourceIpFor(h, undefined)).toBe('127.0.0.1');
  });
});

describe('native TLS', () => {
  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tls-'));
    const { certFile, keyFile } = await selfSignedCertificate(dir);
    const h = (harness = await BrokerHarness.start());
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_TLS_CERT: certFile, SECRETS_BROKER_TLS_KEY: keyFile });
    expect(h.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = await readFile(certFile);
    const body = await new Promise<string>((resolve, reject) => {
      get(`${h.url}/v1/info`, { ca }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(JSON.parse(body)).toMatchObject({ audience: TEST_AUDIENCE });
  });
});

describe('connections per address', () => {
  it('one address cannot hold every connection: past 256 it is cut off, others still get in', async () => {
    harness = await BrokerHarness.start();
    const port = Number(new URL(harness.url).port);
    const sockets: Socket[] = [];
    let closed = 0;
    try {
      await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<void>((resolve) => {
              const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' }, () => {
                socket.write('G'); // a request that never ends: held until the 10 s header deadline
                resolve();
              });
              socket.once('close', () => (closed += 1));
              socket.on('error', () => undefined);
              sockets.push(socket);
            }),
        ),
      );
      // The server closes the connections past the limit as it accepts them.
      await eventually(
        async () => (closed === 300 - 256 ? true : undefined),
        10_000,
        'the refused connections',
      );
      // Another address is served meanwhile (127.0.0.2 is loopback too).
      const status = await new Promise<number>((resolve, reject) =>
        httpGet({ host: '127.0.0.1', port, path: '/healthz', localAddress: '127.0.0.2' }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject),
      );
      expect(status).toBe(200);
      expect(closed).toBe(300 - 256);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
