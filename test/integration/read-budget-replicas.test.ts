/**
 * Read budgets and rotate-after-reads counted in the store across two broker replicas on one PostgreSQL database
 * (issue 16): concurrent exchanges on both replicas release exactly the budget, the rest are refused with 429 and
 * Retry-After; a refused exchange counts nothing on either replica; the next window (on the injected clock, shared
 * by both replicas) starts a new count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/broker.js';
import { BrokerHarness, ManualClock, TEST_AUDIENCE, type HttpResult } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { PostgresCluster } from '../helpers/postgres.js';

/** 12:10 UTC: the hour's window ends in 3000 s. */
const clock = new ManualClock('2030-03-04T12:10:00Z');
let cluster: PostgresCluster;
let harness: BrokerHarness;
let second: RunningBroker;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  harness = await BrokerHarness.start({ databaseUrl: cluster.url, clock });
  second = await harness.startReplica();
  await setWithConditions('prod/api/BUDGETED', { max_reads: { count: 5, period_seconds: 3600 } });
  await setWithConditions('prod/api/SPARE', { max_reads: { count: 2, period_seconds: 3600 } });
  await setWithConditions('prod/api/ROTATED', { rotate_after_reads: 4 });
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await cluster?.stop();
});

async function setWithConditions(name: string, conditions: object): Promise<void> {
  const result = await harness.admin('PUT', `/secrets/${name}`, { value: `${name}-value`, conditions });
  if (result.status !== 201) throw new Error(`setting ${name} failed: ${result.text}`);
}

const token = (): Promise<string> => harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));

/** `count` exchanges for `secrets` at once, alternating between the two replicas. */
async function concurrently(count: number, secrets: string[]): Promise<HttpResult[]> {
  const tokens = await Promise.all(Array.from({ length: count }, () => token()));
  return Promise.all(
    tokens.map((each, index) =>
      harness.exchange(each, secrets, undefined, index % 2 === 0 ? harness.url : second.url),
    ),
  );
}

const codes = (results: readonly HttpResult[]): string[] =>
  results.map((result) => (result.status === 200 ? 'ok' : String(result.json.code))).sort();

describe('read budgets across replicas on PostgreSQL', () => {
  it('12 concurrent exchanges on two replicas release exactly the budget of 5', async () => {
    const results = await concurrently(12, ['prod/api/BUDGETED']);
    expect(codes(results)).toEqual(
      [...Array(5).fill('ok'), ...Array(7).fill('read_budget_exhausted')].sort(),
    );
    for (const refused of results.filter((result) => result.status !== 200)) {
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('3000');
      expect(refused.text).not.toContain('prod/api/BUDGETED-value');
    }
  });

  it('a refused exchange counts no read of its other secrets, on either replica', async () => {
    for (const url of [harness.url, second.url]) {
      const refused = await harness.exchange(
        await token(),
        ['prod/api/SPARE', 'prod/api/BUDGETED'],
        undefined,
        url,
      );
      expect(refused.json.code).toBe('read_budget_exhausted');
    }
    const spare = await concurrently(4, ['prod/api/SPARE']);
    expect(codes(spare)).toEqual(['ok', 'ok', 'read_budget_exhausted', 'read_budget_exhausted']);
  });

  it('the next window starts a new count for both replicas', async () => {
    clock.set('2030-03-04T13:00:00Z');
    const results = await concurrently(6, ['prod/api/BUDGETED']);
    expect(codes(results)).toEqual([...Array(5).fill('ok'), 'read_budget_exhausted'].sort());
    expect(results.find((result) => result.status === 429)?.headers.get('retry-after')).toBe('3600');
  });

  it('rotate-after-reads counts releases of the current version across replicas', async () => {
    const results = await concurrently(8, ['prod/api/ROTATED']);
    expect(codes(results)).toEqual([...Array(4).fill('ok'), ...Array(4).fill('rotation_required')].sort());
    await harness.setSecret('prod/api/ROTATED', 'rotated');
    const after = await concurrently(2, ['prod/api/ROTATED']);
    expect(codes(after)).toEqual(['ok', 'ok']);
    expect(after.map((result) => (result.json.secrets as { version: number }[])[0]?.version)).toEqual([2, 2]);
  });
});
