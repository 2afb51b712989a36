/**
 * A refused exchange counts no read anywhere (issue 16, review): copies of one token sent at once are counted
 * once, the others refused as replays, on one broker (SQLite) and on two replicas of one PostgreSQL database; an
 * older version of a rotating secret is counted and refused like the current one; an exchange that fails after
 * its counts (a version that does not open) takes them back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/broker.js';
import {
  BrokerHarness,
  ManualClock,
  newRecipient,
  openSealed,
  policyWithRules,
  TEST_AUDIENCE,
  type HttpResult,
} from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { PostgresCluster } from '../helpers/postgres.js';

const policy = policyWithRules(`  - name: always
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [life/*]
`);
const NOW = '2030-03-04T12:10:00Z';
const nowSeconds = Math.floor(Date.parse(NOW) / 1000);

const codes = (results: readonly HttpResult[]): string[] =>
  results
    .map((result) => (result.status === 200 ? 'ok' : `${result.status} ${String(result.json.code)}`))
    .sort();

async function setWithConditions(harness: BrokerHarness, name: string, value: string, conditions: object) {
  const result = await harness.admin('PUT', `/secrets/${name}`, { value, conditions });
  if (result.status !== 201) throw new Error(`setting ${name} failed: ${result.text}`);
}

/** Per secret under life/: reads in the current window and releases of its current version. */
async function counts(harness: BrokerHarness): Promise<Record<string, [number, number]>> {
  const listed = await harness.broker.stores.secrets.list('life/', nowSeconds);
  return Object.fromEntries(listed.map((secret) => [secret.name, [secret.readsInWindow, secret.releases]]));
}

const token = (harness: BrokerHarness): Promise<string> =>
  harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));

describe('counting on one broker (SQLite)', () => {
  let harness: BrokerHarness;

  beforeAll(async () => {
    harness = await BrokerHarness.start({ policy, clock: new ManualClock(NOW) });
    await setWithConditions(harness, 'life/ROTATE', 'rotate-1', { rotate_after_reads: 3 });
    await setWithConditions(harness, 'life/BUDGET', 'budget-1', {
      max_reads: { count: 3, period_seconds: 3600 },
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('counts one of three copies of one token sent at once; the others are replays that count nothing', async () => {
    const copied = await token(harness);
    const results = await Promise.all(
      [0, 1, 2].map(() => harness.exchange(copied, ['life/ROTATE', 'life/BUDGET'], newRecipient())),
    );
    expect(codes(results)).toEqual(['401 token_replayed', '401 token_replayed', 'ok']);
    expect(await counts(harness)).toEqual({ 'life/BUDGET': [1, 0], 'life/ROTATE': [0, 1] });
    // The exchange that counted is audited as allowed; the copies as replays.
    for (const result of results) {
      const record = await harness.auditRecord(result.json.request_id);
      expect(record.outcome).toBe(result.status === 200 ? 'allowed' : 'denied');
      if (result.status !== 200) expect(record.code).toBe('token_replayed');
    }
    // The same token later: refused before anything is counted.
    expect((await harness.exchange(copied, ['life/ROTATE'])).json.code).toBe('token_replayed');
    // Fresh tokens still get the rest of the limits.
    for (let i = 0; i < 2; i += 1)
      expect((await harness.exchange(await token(harness), ['life/ROTATE', 'life/BUDGET'])).status).toBe(200);
    expect(await counts(harness)).toEqual({ 'life/BUDGET': [3, 0], 'life/ROTATE': [0, 3] });
  });

  it('refuses an older version of a rotating secret after its own limit, naming the version', async () => {
    await setWithConditions(harness, 'life/OLD', 'old-1', { rotate_after_reads: 2 });
    await harness.setSecret('life/OLD', 'old-2');
    for (let i = 0; i < 2; i += 1) {
      const recipient = newRecipient();
      const released = await harness.exchange(await token(harness), ['life/OLD@1'], recipient);
      expect(released.status, released.text).toBe(200);
      const [secret] = released.json.secrets as { version: number; sealed: string }[];
      expect(secret?.version).toBe(1);
      expect(JSON.stringify(openSealed(secret?.sealed as string, recipient))).toContain('old-1');
    }
    const refused = await harness.exchange(await token(harness), ['life/OLD@1']);
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe('rotation_required');
    expect(refused.json.detail).toContain('version 1 of "life/OLD"');
    expect(refused.json.hint).toContain('older version');
    expect(refused.text).not.toContain('old-1');
    // The current version has a count of its own.
    expect((await harness.exchange(await token(harness), ['life/OLD'])).status).toBe(200);
  });

  it('takes back the counts of an exchange whose secret does not open', async () => {
    await setWithConditions(harness, 'life/BROKEN', 'broken-1', {
      rotate_after_reads: 5,
      max_reads: { count: 5, period_seconds: 3600 },
    });
    const { secrets } = harness.broker.stores;
    const record = await secrets.version('life/BROKEN', 1);
    if (record === undefined) throw new Error('not stored');
    const ciphertext = Buffer.from(record.ciphertext);
    ciphertext[0] = (ciphertext[0] as number) ^ 1;
    expect(
      await secrets.replaceEncryption([{ record: { ...record, ciphertext }, fromKeyId: record.keyId }]),
    ).toBe(1);
    const failed = await harness.exchange(await token(harness), ['life/BROKEN']);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await counts(harness))['life/BROKEN']).toEqual([0, 0]);
  });
});

describe('counting on two replicas (PostgreSQL)', () => {
  let cluster: PostgresCluster;
  let harness: BrokerHarness;
  let second: RunningBroker;

  beforeAll(async () => {
    cluster = await PostgresCluster.start();
    harness = await BrokerHarness.start({ policy, databaseUrl: cluster.url, clock: new ManualClock(NOW) });
    second = await harness.startReplica();
    await setWithConditions(harness, 'life/ROTATE', 'rotate-1', { rotate_after_reads: 3 });
    await setWithConditions(harness, 'life/BUDGET', 'budget-1', {
      max_reads: { count: 3, period_seconds: 3600 },
    });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await cluster?.stop();
  });

  it('counts one of six copies of one token sent at once to both replicas', async () => {
    const copied = await token(harness);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        harness.exchange(
          copied,
          ['life/ROTATE', 'life/BUDGET'],
          undefined,
          index % 2 === 0 ? harness.url : second.url,
        ),
      ),
    );
    expect(codes(results)).toEqual([...Array(5).fill('401 token_replayed'), 'ok']);
    expect(await counts(harness)).toEqual({ 'life/BUDGET': [1, 0], 'life/ROTATE': [0, 1] });
    for (const url of [harness.url, second.url])
      expect(
        (await harness.exchange(await token(harness), ['life/ROTATE', 'life/BUDGET'], undefined, url)).status,
      ).toBe(200);
    expect(await counts(harness)).toEqual({ 'life/BUDGET': [3, 0], 'life/ROTATE': [0, 3] });
  });
});
