/** Run outputs across two broker replicas sharing a real PostgreSQL 15 cluster. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/broker.js';
import {
  BrokerHarness,
  newRecipient,
  openSealed,
  policyWithRules,
  TEST_AUDIENCE,
} from '../helpers/broker-harness.js';
import { canary } from '../helpers/canary.js';
import { githubClaims, type Claims } from '../helpers/oidc-issuer.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { sealOutput } from './run-outputs-sealing.js';

const RULES = `  - name: api-outputs
    issuer: github
    claims:
      repository_id: "98765"
    secrets:
      - run/*
`;

let cluster: PostgresCluster;
let h: BrokerHarness;
let second: RunningBroker;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  h = await BrokerHarness.start({ databaseUrl: cluster.url, policy: policyWithRules(RULES) });
  second = await h.startReplica();
}, 120_000);

afterAll(async () => {
  await h?.close();
  await cluster?.stop();
});

const github = (overrides: Claims = {}) =>
  h.github.token(githubClaims(h.github.url, TEST_AUDIENCE, overrides));

async function infoKey(baseUrl: string): Promise<{ key: Buffer; id: unknown }> {
  const info = await h.request('GET', '/v1/info', { baseUrl });
  return { key: Buffer.from(info.json.run_output_key as string, 'base64'), id: info.json.run_output_key_id };
}

async function put(baseUrl: string, name: string, value: string, key: Buffer) {
  return h.request('POST', '/v1/outputs', {
    baseUrl,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await github()}` },
    body: JSON.stringify({ outputs: [{ name, sealed: sealOutput(key, { name, value }) }] }),
  });
}

describe('run outputs on PostgreSQL replicas', () => {
  it('share one run-output key, created once', async () => {
    expect((await infoKey(h.url)).id).toBe((await infoKey(second.url)).id);
  });

  it('an output put through replica 1 is released by replica 2', async () => {
    const value = canary('replicas');
    const { key } = await infoKey(h.url);
    const stored = await put(h.url, 'SHARED', value, key);
    expect(stored.status, stored.text).toBe(200);
    const recipient = newRecipient();
    const result = await h.exchange(await github(), ['run/SHARED'], recipient, second.url);
    expect(result.status, result.text).toBe(200);
    expect(openSealed((result.json.secrets as { sealed: string }[])[0]!.sealed, recipient)).toEqual({
      name: 'run/SHARED',
      version: 1,
      value,
    });
  });

  it('after rotate and drop-old on replica 1, replica 2 refuses a put sealed to the dropped key', async () => {
    const { key: oldKey } = await infoKey(second.url);
    const rotated = await h.admin('POST', '/output-key/rotate', { drop_old: true });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.json.dropped_key_ids).toHaveLength(1);
    // Replica 2 may still hold the old key in memory: the store refuses what is sealed to it.
    const late = await put(second.url, 'LATE', 'l', oldKey);
    expect(late.status, late.text).toBe(400);
    expect(late.json.hint).toContain('/v1/info');
    const released = await h.exchange(await github(), ['run/SHARED'], newRecipient(), second.url);
    expect(released.json.code).toBe('secret_not_found');
    // Sealed to the new key, a put through replica 2 works once it reads the keys again.
    const { key: newKey } = await infoKey(h.url);
    expect((await put(second.url, 'FRESH', 'f', newKey)).status).toBe(200);
  });
});
