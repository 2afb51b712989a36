/**
 * Audit paging returns every matching record exactly once, whatever the page size, on both stores; a page size
 * the API does not serve is refused, never quietly changed (issue 12, item 6).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExchangeAuditRecord } from '../../src/broker/audit/audit-records.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';
import { PostgresCluster } from '../helpers/postgres.js';

/** More than one page of the largest size; FEW of them are also in a small set, for page size 1. */
const BULK = 2345;
const FEW = 30;

function exchangeRecord(n: number): ExchangeAuditRecord {
  return {
    kind: 'exchange',
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    request_id: randomUUID(),
    source_ip: '127.0.0.1',
    outcome: 'denied',
    code: 'policy_denied',
    token_verified: true,
    claimed: null,
    issuer: 'github',
    issuer_url: 'https://token.actions.githubusercontent.com',
    jti_sha256: null,
    recipient_sha256: null,
    requested: [`paging/${n}`],
    requested_count: 1,
    released: [],
    rules: [],
    latency_ms: 1,
    sub: `repo:acme/paging:${n}`,
    repository: n < FEW ? 'acme/few' : 'acme/bulk',
    ref: null,
    environment: null,
    workflow: null,
    run_id: String(n),
    actor: null,
  };
}

interface Page {
  records: { seq: number; run_id: string }[];
  next_after: number | null;
}

/** Follows next_after from the start; fails on a page that repeats or skips. */
async function pageThrough(harness: BrokerHarness, filter: string, limit?: number): Promise<string[]> {
  const seen: string[] = [];
  let after = 0;
  for (let pages = 0; pages < 10_000; pages++) {
    const query = `${filter}&after=${after}${limit === undefined ? '' : `&limit=${limit}`}`;
    const result = await harness.admin('GET', `/audit?${query}`);
    expect(result.status, result.text).toBe(200);
    const page = result.json as unknown as Page;
    expect(page.records.length).toBeLessThanOrEqual(limit ?? 100);
    for (const record of page.records) expect(record.seq).toBeGreaterThan(after);
    seen.push(...page.records.map((record) => record.run_id));
    if (page.next_after === null) return seen;
    after = page.next_after;
  }
  throw new Error('paging did not end');
}

const every = (count: number, from = 0) => Array.from({ length: count }, (_, n) => String(from + n));

describe.each(['sqlite', 'postgres'] as const)('audit paging on %s', (store) => {
  let cluster: PostgresCluster | undefined;
  let harness: BrokerHarness;

  beforeAll(async () => {
    if (store === 'postgres') cluster = await PostgresCluster.start();
    harness = await BrokerHarness.start(cluster === undefined ? {} : { databaseUrl: cluster.url });
    // Appended together, they are written in group commits, in this order.
    await Promise.all(every(BULK).map((n) => harness.broker.auditLog.append(exchangeRecord(Number(n)))));
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await cluster?.stop();
  });

  it('returns every record exactly once with page sizes 1000, 999, 100 (the default) and 1', async () => {
    expect(await pageThrough(harness, 'kind=exchange', 1000)).toEqual(every(BULK));
    expect(await pageThrough(harness, 'kind=exchange', 999)).toEqual(every(BULK));
    expect(await pageThrough(harness, 'kind=exchange')).toEqual(every(BULK));
    expect(await pageThrough(harness, 'repository=acme/few', 1)).toEqual(every(FEW));
    // A last page that is exactly full is followed by an empty one without a cursor.
    expect(await pageThrough(harness, 'repository=acme/few', FEW / 3)).toEqual(every(FEW));
  });

  it('refuses a page size of 0, over 1000, negative or not a whole number, naming the range', async () => {
    for (const limit of ['0', '1001', '5000', '-1', '1.5', 'abc', '1e3']) {
      const result = await harness.admin('GET', `/audit?kind=exchange&limit=${limit}`);
      expect(result.status, limit).toBe(400);
      expect(result.json).toMatchObject({
        code: 'invalid_request',
        detail: `"limit" must be a whole number from 1 to 1000, not ${JSON.stringify(limit)}`,
      });
    }
  });

  it('the CLI pages with --after the cursor it prints, and refuses --limit out of range as usage', async () => {
    const environment = adminEnvironment(harness);
    const first = await runCli(['audit', '--repository', 'acme/few', '--limit', '20', '--json'], {
      environment,
    });
    expect(first.stdout.trim().split('\n')).toHaveLength(20);
    const next = /run again with --after (\d+)/.exec(first.stderr)?.[1];
    expect(next).toBeDefined();
    const second = await runCli(
      ['audit', '--repository', 'acme/few', '--limit', '20', '--after', next!, '--json'],
      {
        environment,
      },
    );
    const runIds = [...first.stdout.trim().split('\n'), ...second.stdout.trim().split('\n')].map(
      (line) => (JSON.parse(line) as { run_id: string }).run_id,
    );
    expect(runIds).toEqual(every(FEW));
    expect(second.stderr).toBe('');
    for (const limit of ['0', '5000', 'x']) {
      const refused = await runCli(['audit', '--limit', limit], { environment });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(
        `error: option '--limit <n>' argument '${limit}' is invalid. It must be a whole number from 1 to 1000.\n`,
      );
    }
  });
});
