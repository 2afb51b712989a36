/** Two broker replicas sharing a real PostgreSQL 15 cluster. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/broker.js';
import { verifyAuditChain, type ChainHead } from '../../src/broker/audit/audit-chain.js';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { parseMasterKey } from '../../src/broker/store/master-key.js';
import { openPostgresStores } from '../../src/broker/postgres/open-postgres-stores.js';
import { BrokerHarness, newRecipient, openSealed, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { eventually } from '../helpers/eventually.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { PostgresCluster } from '../helpers/postgres.js';

let cluster: PostgresCluster;
let harness: BrokerHarness;
let second: RunningBroker;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  harness = await BrokerHarness.start({ databaseUrl: cluster.url });
  second = await harness.startReplica();
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await cluster?.stop();
});

const token = () => harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));

/**
 * The shared chain, verified with the replicas' chain key: every record keyed, and every link written by a replica
 * that checked the link before it, whichever replica wrote that one (hmac2, never hmac2u).
 */
async function chain(heads: readonly ChainHead[] = []) {
  const stores = await openPostgresStores(cluster.url);
  try {
    const keys = new AuditChainKeys(parseMasterKey(harness.masterKeyHex, 'test'));
    const result = await verifyAuditChain(stores.audit, { keys, heads });
    if (result.ok) expect(result.keyed).toBe(result.checked);
    const entries = await stores.audit.page(0, 100_000);
    expect(entries.filter((entry) => !entry.hash.startsWith('hmac2:')).map((entry) => entry.seq)).toEqual([]);
    return result;
  } finally {
    await stores.close();
  }
}

describe('replicas on PostgreSQL', () => {
  it('a secret written through replica 1 is released by replica 2', async () => {
    await harness.setSecret('prod/api/SHARED', 'written-on-one');
    const recipient = newRecipient();
    const result = await harness.exchange(await token(), ['prod/api/SHARED'], recipient, second.url);
    expect(result.status).toBe(200);
    expect(openSealed((result.json.secrets as { sealed: string }[])[0]!.sealed, recipient)).toMatchObject({
      value: 'written-on-one',
    });
  });

  it('a token redeemed on replica 1 is refused as replayed on replica 2', async () => {
    const used = await token();
    expect((await harness.exchange(used, ['prod/api/SHARED'])).status).toBe(200);
    const replay = await harness.exchange(used, ['prod/api/SHARED'], newRecipient(), second.url);
    expect(replay.status).toBe(401);
    expect(replay.json.code).toBe('token_replayed');
  });

  it('one token sent to both replicas at the same moment is released once', async () => {
    const same = await token();
    const results = await Promise.all([
      harness.exchange(same, ['prod/api/SHARED']),
      harness.exchange(same, ['prod/api/SHARED'], newRecipient(), second.url),
    ]);
    expect(results.map((result) => result.status).sort()).toEqual([200, 401]);
    expect(results.find((result) => result.status === 401)!.json.code).toBe('token_replayed');
  });

  it('200 concurrent exchanges across both replicas all succeed and leave one valid audit chain', async () => {
    const before = await chain();
    const tokens = await Promise.all(Array.from({ length: 200 }, () => token()));
    const results = await Promise.all(
      tokens.map((each, index) =>
        harness.exchange(
          each,
          ['prod/api/SHARED'],
          newRecipient(),
          index % 2 === 0 ? harness.url : second.url,
        ),
      ),
    );
    expect(results.map((result) => result.status)).toEqual(Array(200).fill(200));
    const after = await chain();
    expect(after.ok).toBe(true);
    expect(after.checked).toBe(before.checked + 200);
  });

  it('each replica publishes a true head of the one shared chain, and both heads verify', async () => {
    await Promise.all(
      Array.from({ length: 20 }, async (_, index) =>
        harness.exchange(
          await token(),
          ['prod/api/SHARED'],
          newRecipient(),
          index % 2 === 0 ? harness.url : second.url,
        ),
      ),
    );
    const fromFirst = await harness.broker.publishAuditHead();
    const fromSecond = await second.publishAuditHead();
    expect(fromSecond).toEqual(fromFirst);
    expect(fromFirst!.hash).toMatch(/^hmac2:[0-9a-f]{16}:[0-9a-f]{64}:[0-9a-f]{64}$/);
    await harness.exchange(await token(), ['prod/api/SHARED'], newRecipient(), second.url);
    const later = await second.publishAuditHead();
    expect(later!.seq).toBeGreaterThan(fromFirst!.seq);
    expect(await chain([fromFirst!, later!])).toMatchObject({
      ok: true,
      headsMatched: [fromFirst!.seq, later!.seq],
    });
    const throughApi = await harness.admin(
      'GET',
      `/audit/verify?head=${encodeURIComponent(`${later!.seq}:${later!.hash}`)}`,
      undefined,
      harness.adminToken,
      second.url,
    );
    expect(throughApi.json).toMatchObject({ ok: true, heads_matched: [later!.seq], hash_only: 0 });
  });

  it('stopping one replica mid-load loses no committed write, and the other keeps serving', async () => {
    const third = await harness.startReplica();
    const writes = Array.from({ length: 60 }, (_, index) =>
      harness
        .admin(
          'PUT',
          `/secrets/prod/api/LOAD_${index}`,
          { value: `value-${index}` },
          harness.adminToken,
          third.url,
        )
        .then((result) => ({ index, status: result.status }))
        .catch(() => ({ index, status: 0 })),
    );
    // Stop it once some writes are acknowledged, while others are in flight.
    await eventually(async () =>
      (
        (
          await harness.admin(
            'GET',
            '/secrets?prefix=prod/api/LOAD_',
            undefined,
            harness.adminToken,
            second.url,
          )
        ).json.secrets as unknown[]
      ).length >= 10
        ? true
        : undefined,
    );
    await third.close();
    const outcomes = await Promise.all(writes);
    const committed = outcomes
      .filter((outcome) => outcome.status === 201)
      .map((outcome) => `prod/api/LOAD_${outcome.index}`);
    expect(committed.length).toBeGreaterThan(0);
    const stored = harness.admin(
      'GET',
      '/secrets?prefix=prod/api/LOAD_',
      undefined,
      harness.adminToken,
      second.url,
    );
    const names = ((await stored).json.secrets as { name: string }[]).map((secret) => secret.name);
    for (const name of committed) expect(names).toContain(name);
    const recipient = newRecipient();
    const served = await harness.exchange(await token(), committed.slice(0, 5), recipient, second.url);
    expect(served.status).toBe(200);
    expect((await chain()).ok).toBe(true);
  });

  it('answers unavailable while PostgreSQL is down, and recovers without a broker restart', async () => {
    const stored = (await harness.admin('POST', '/tokens', { label: 'outage', role: 'auditor' })).json
      .token as string;
    await cluster.stopServer();
    try {
      // Checking a stored admin token needs the database too: unavailable, not an internal error.
      const admin = await harness.admin('GET', '/whoami', undefined, stored, second.url);
      expect(admin.status, admin.text).toBe(503);
      expect(admin.json.code).toBe('unavailable');
      const during = await harness.exchange(await token(), ['prod/api/SHARED'], newRecipient(), second.url);
      expect(during.status).toBe(503);
      expect(during.json.code).toBe('unavailable');
      expect(JSON.stringify(during.json)).not.toContain('sealed');
      expect((await harness.request('GET', '/readyz', { baseUrl: second.url })).status).toBe(503);
    } finally {
      await cluster.startServer();
    }
    const recovered = await eventually(
      async () => {
        const result = await harness.exchange(await token(), ['prod/api/SHARED'], newRecipient(), second.url);
        return result.status === 200 ? result : undefined;
      },
      30_000,
      'the broker to recover',
    );
    expect(recovered.status).toBe(200);
    expect((await harness.exchange(await token(), ['prod/api/SHARED'])).status).toBe(200);
    expect((await chain()).ok).toBe(true);
  });
});
