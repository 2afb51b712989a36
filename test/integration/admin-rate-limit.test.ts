/**
 * Defect 10 of issue 11: failed admin authentication is limited per source address before anything is written,
 * refused attempts are audited as bounded aggregates, a valid admin token from the same address is still
 * served, and a store outage during authentication answers 503. The clock is injected: nothing here sleeps.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, startBroker } from '../../src/broker/broker.js';
import { resolveBrokerConfig } from '../../src/broker/config.js';
import { createLogger } from '../../src/broker/logger.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';
import { BrokerHarness } from '../helpers/broker-harness.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** Well-formed (so it is looked up in the store) but unknown. */
const BAD_TOKEN = `sbadm_0123456789abcdef_${'A'.repeat(43)}`;

interface Clock {
  now: number;
}

/**
 * A harness whose broker runs with an injected clock and small, explicit limits (the defaults are burst 10,
 * one more every 6 s). The harness's own broker is replaced, so its helpers and close() use this one.
 */
async function limitedHarness(
  clock: Clock,
  limits: Record<string, number> = {},
  trustProxy?: string,
): Promise<BrokerHarness> {
  const h = (harness = await BrokerHarness.start());
  await h.stopBroker();
  const environment = {
    SECRETS_BROKER_MASTER_KEY: h.masterKeyHex,
    SECRETS_BROKER_BOOTSTRAP_TOKEN: h.adminToken,
  };
  const config = resolveBrokerConfig(
    {
      policy: h.policyFile,
      dataDir: h.dataDir,
      port: '0',
      ...(trustProxy === undefined ? {} : { trustProxy }),
    },
    environment,
  );
  h.broker = await startBroker(config, {
    logger: createLogger('debug', { write: (line: string) => void h.logs.push(line) }),
    environment,
    adminAuthLimits: { burst: 10, refillPerSecond: 1 / 6, now: () => clock.now, ...limits },
  });
  return h;
}

const cli = (h: BrokerHarness, args: string[]) => runCli(args, { environment: adminEnvironment(h) });

async function auditRecords(h: BrokerHarness): Promise<Record<string, unknown>[]> {
  return (await h.broker.stores.audit.page(0, 100_000)).map(
    (entry) => JSON.parse(entry.record) as Record<string, unknown>,
  );
}

describe('failed admin authentication per source address', () => {
  it('200 calls with a bad token: 429 with Retry-After after the burst, bounded audit, a valid token still served', async () => {
    const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
    const h = await limitedHarness(clock);
    const before = (await auditRecords(h)).length;

    const statuses: number[] = [];
    let refused: Awaited<ReturnType<BrokerHarness['admin']>> | undefined;
    let servedMeanwhile = 0;
    for (let call = 0; call < 200; call += 1) {
      const result = await h.admin('GET', '/whoami', undefined, BAD_TOKEN);
      statuses.push(result.status);
      if (result.status === 429) refused ??= result;
      if (call % 50 === 49) {
        // The same address, with the owner's token: never locked out by the attacker's failures.
        const owner = await h.admin('GET', '/whoami');
        expect(owner.status).toBe(200);
        servedMeanwhile += 1;
      }
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(190).fill(429));
    expect(refused!.json).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(refused!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    // A missing or malformed header is a failed authentication too.
    expect((await h.request('GET', '/v1/admin/whoami')).status).toBe(429);
    expect(
      (await h.request('GET', '/v1/admin/whoami', { headers: { authorization: 'Basic eA==' } })).status,
    ).toBe(429);

    // Only the failures within the budget were written, one each; the refusals wrote nothing yet.
    const written = (await auditRecords(h)).slice(before);
    expect(written.filter((record) => record.code === 'unauthorized')).toHaveLength(10);
    expect(written).toHaveLength(10 + servedMeanwhile);

    // The refused ones become one aggregate record for the window.
    await h.broker.flushAdminAuthFailures();
    const aggregates = (await auditRecords(h)).filter((record) => record.action === 'auth.failures');
    expect(aggregates).toHaveLength(1);
    expect(aggregates[0]).toMatchObject({
      kind: 'admin',
      outcome: 'denied',
      code: 'rate_limited',
      source_ip: '127.0.0.1',
      detail: { count: 192, source_ip: '127.0.0.1' },
    });
    const table = await cli(h, [
      'audit',
      '--kind',
      'admin',
      '--outcome',
      'denied',
      '--after',
      String(before),
    ]);
    expect(table.stdout).toMatch(/auth\.failures \(192 refused\)\n$/);
    const metrics = (await h.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/secrets_broker_admin_auth_refused_total 192/);

    // Nothing more to report: no empty aggregate.
    await h.broker.flushAdminAuthFailures();
    expect((await auditRecords(h)).filter((record) => record.action === 'auth.failures')).toHaveLength(1);

    // The bucket refills: one more failure is let through (and audited) after 6 s, then refused again.
    clock.now += 6_000;
    expect((await h.admin('GET', '/whoami', undefined, BAD_TOKEN)).status).toBe(401);
    expect((await h.admin('GET', '/whoami', undefined, BAD_TOKEN)).status).toBe(429);
  });

  it('bounds the addresses it tracks and the aggregate records of a window; every refusal is counted', async () => {
    const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
    const h = await limitedHarness(
      clock,
      { burst: 2, maxTrackedAddresses: 4, maxSummaryRecords: 3 },
      '127.0.0.1',
    );
    const before = (await auditRecords(h)).length;
    // Eight addresses (through a trusted proxy), five failures each: two audited, three refused.
    for (let address = 1; address <= 8; address += 1) {
      for (let call = 0; call < 5; call += 1) {
        const result = await h.request('GET', '/v1/admin/whoami', {
          headers: { authorization: `Bearer ${BAD_TOKEN}`, 'x-forwarded-for': `10.0.0.${address}` },
        });
        expect(result.status).toBe(call < 2 ? 401 : 429);
      }
    }
    await h.broker.flushAdminAuthFailures();
    const written = (await auditRecords(h)).slice(before);
    expect(written.filter((record) => record.code === 'unauthorized')).toHaveLength(16);
    const aggregates = written.filter((record) => record.action === 'auth.failures');
    expect(aggregates.length).toBeLessThanOrEqual(3);
    expect(written).toHaveLength(16 + aggregates.length);
    const counted = aggregates.map((record) => (record.detail as { count: number }).count);
    expect(counted.reduce((sum, count) => sum + count, 0)).toBe(24);
    expect(aggregates.at(-1)!.detail).toMatchObject({ source_ip: '(other addresses)' });
  });

  it('writes what is still counted when the broker stops', async () => {
    const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
    const h = await limitedHarness(clock, { burst: 1 });
    for (let call = 0; call < 4; call += 1) await h.admin('GET', '/whoami', undefined, BAD_TOKEN);
    await h.stopBroker();
    await h.startBroker();
    const aggregates = (await auditRecords(h)).filter((record) => record.action === 'auth.failures');
    expect(aggregates.map((record) => record.detail)).toEqual([{ count: 3, source_ip: '127.0.0.1' }]);
  });
});

describe('a store outage during admin authentication', () => {
  it('answers 503 unavailable, not 500, and recovers', async () => {
    const h = (harness = await BrokerHarness.start());
    const created = await h.admin('POST', '/tokens', { label: 'stored token', role: 'admin' });
    const stored = created.json.token as string;
    const database = new Database(join(h.dataDir, DATABASE_FILE));
    try {
      database.exec('ALTER TABLE admin_tokens RENAME TO admin_tokens_away');
      for (const token of [stored, BAD_TOKEN]) {
        const result = await h.admin('GET', '/whoami', undefined, token);
        expect(result.status, result.text).toBe(503);
        expect(result.json.code).toBe('unavailable');
      }
    } finally {
      database.exec('ALTER TABLE admin_tokens_away RENAME TO admin_tokens');
      database.close();
    }
    expect((await h.admin('GET', '/whoami', undefined, stored)).status).toBe(200);
  });
});
