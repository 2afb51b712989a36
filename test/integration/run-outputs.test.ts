/** Cross-job outputs against the real broker (SQLite): put from one job, get from another job of the same run. */
import Database from 'better-sqlite3';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerHarness,
  ManualClock,
  newRecipient,
  openSealed,
  policyWithRules,
  TEST_AUDIENCE,
  type HttpResult,
} from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { githubClaims, gitlabClaims, type Claims } from '../helpers/oidc-issuer.js';
import { sealOutput } from './run-outputs-sealing.js';

const RULES = `  - name: api-outputs
    issuer: github
    claims:
      repository_id: "98765"
    secrets:
      - run/*
  - name: other-repo-outputs
    issuer: github
    claims:
      repository_id: "77777"
    secrets:
      - run/*
  - name: no-outputs
    issuer: github
    claims:
      repository_id: "55555"
    secrets:
      - shared/NOTHING
  - name: web-outputs
    issuer: gitlab
    claims:
      project_id: "4242"
    secrets:
      - run/*
`;

const clock = new ManualClock(new Date());
let h: BrokerHarness;

beforeAll(async () => {
  h = await BrokerHarness.start({ policy: policyWithRules(RULES), clock });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const github = (overrides: Claims = {}) =>
  h.github.token(githubClaims(h.github.url, TEST_AUDIENCE, overrides));
const gitlab = (overrides: Claims = {}) =>
  h.gitlab.token(gitlabClaims(h.gitlab.url, TEST_AUDIENCE, overrides));

async function outputKey(): Promise<Buffer> {
  const info = await h.request('GET', '/v1/info');
  return Buffer.from(info.json.run_output_key as string, 'base64');
}

interface Output {
  name: string;
  value: string;
  ttl?: string;
  /** The name sealed inside the box, when not `name` (a swapped box). */
  inside?: string;
}

async function put(token: string, outputs: Output[], key?: Buffer): Promise<HttpResult> {
  const sealTo = key ?? (await outputKey());
  const body = {
    outputs: outputs.map(({ name, value, ttl, inside }) => ({
      name,
      sealed: sealOutput(sealTo, { name: inside ?? name, value }),
      ...(ttl === undefined ? {} : { ttl }),
    })),
  };
  return h.request('POST', '/v1/outputs', {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

async function get(token: string, entries: string[]) {
  const recipient = newRecipient();
  const result = await h.exchange(token, entries, recipient);
  const secrets = result.status === 200 ? (result.json.secrets as { sealed: string }[]) : [];
  return { result, values: secrets.map((secret) => openSealed(secret.sealed, recipient)) };
}

describe('run outputs', () => {
  it('publishes the run-output key in /v1/info', async () => {
    const info = await h.request('GET', '/v1/info');
    expect(Buffer.from(info.json.run_output_key as string, 'base64')).toHaveLength(32);
    expect(info.json.run_output_key_id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a job puts an output and a later job of the same GitHub run gets it; the audit names both sides', async () => {
    const value = canary('db-url');
    const stored = await put(await github(), [{ name: 'DB_URL', value }]);
    expect(stored.status, stored.text).toBe(200);
    expect(stored.json.outputs).toEqual([{ name: 'DB_URL', expires_at: expect.any(String) }]);
    const expires = Date.parse((stored.json.outputs as { expires_at: string }[])[0]!.expires_at);
    expect(expires / 1000).toBe(Math.floor(clock.now().getTime() / 1000) + 6 * 3600);

    // A re-run (another run_attempt) is the same run.
    const { result, values } = await get(await github({ run_attempt: '2' }), ['run/DB_URL']);
    expect(result.status, result.text).toBe(200);
    expect(values).toEqual([{ name: 'run/DB_URL', version: 1, value }]);

    const putRecord = await h.auditRecord(stored.json.request_id);
    expect(putRecord).toMatchObject({
      kind: 'output',
      outcome: 'allowed',
      run: 'github:98765:1234567890',
      repository: 'acme/api',
      requested: ['run/DB_URL'],
      outputs: [{ name: 'run/DB_URL', version: 1, replaced: false, ttl_seconds: 21600 }],
    });
    const getRecord = await h.auditRecord(result.json.request_id);
    expect(getRecord.released).toEqual([
      { name: 'run/DB_URL', version: 1, put_request_id: stored.json.request_id },
    ]);
    const places = { audit: JSON.stringify([putRecord, getRecord]), logs: h.logs.join('\n') };
    expect(findLeaks([value], places)).toEqual([]);
  });

  it('works for GitLab pipelines (project_id + pipeline_id), and not for another pipeline', async () => {
    const value = canary('gitlab');
    expect((await put(await gitlab(), [{ name: 'TOKEN', value }])).status).toBe(200);
    const { result, values } = await get(await gitlab({ job_id: '2' }), ['run/TOKEN']);
    expect(result.status, result.text).toBe(200);
    expect(values).toEqual([{ name: 'run/TOKEN', version: 1, value }]);
    const other = await get(await gitlab({ pipeline_id: '9002' }), ['run/TOKEN']);
    expect(other.result.json.code).toBe('secret_not_found');
  });

  it('is refused for another run and another repository, with secret_not_found', async () => {
    expect((await put(await github(), [{ name: 'ONLY_THIS_RUN', value: canary('run') }])).status).toBe(200);
    const otherRun = await get(await github({ run_id: '1234567891' }), ['run/ONLY_THIS_RUN']);
    expect(otherRun.result.status).toBe(404);
    expect(otherRun.result.json.code).toBe('secret_not_found');
    const otherRepository = await get(await github({ repository_id: '77777', repository: 'acme/other' }), [
      'run/ONLY_THIS_RUN',
    ]);
    expect(otherRepository.result.json.code).toBe('secret_not_found');
    // Optional: nothing released, no error.
    const optional = await get(await github({ run_id: '1234567891' }), ['run/ONLY_THIS_RUN?']);
    expect(optional.result.status).toBe(200);
    expect(optional.values).toEqual([]);
  });

  it('is refused without a rule that grants run/NAME, to put and to get (policy_denied)', async () => {
    const claims = { repository_id: '55555', repository: 'acme/none' };
    const refused = await put(await github(claims), [{ name: 'X', value: canary('denied') }]);
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe('policy_denied');
    expect(refused.text).toContain('run/X');
    expect((await get(await github(claims), ['run/X'])).result.json.code).toBe('policy_denied');
  });

  it('expires at its TTL (the broker clock) and the purge deletes it', async () => {
    const run = { run_id: '5550001' };
    expect(
      (await put(await github(run), [{ name: 'SHORT', value: canary('short'), ttl: '10m' }])).status,
    ).toBe(200);
    clock.advance(9 * 60);
    expect((await get(await github(run), ['run/SHORT'])).result.status).toBe(200);
    clock.advance(60);
    expect((await get(await github(run), ['run/SHORT'])).result.json.code).toBe('secret_not_found');
    const purged = await h.broker.purgeExpiredOutputs();
    expect(purged?.rows).toBeGreaterThanOrEqual(1);
  });

  it('refuses a ttl out of range, duplicates, and more than 20 outputs', async () => {
    const long = await put(await github(), [{ name: 'A', value: 'v', ttl: '25h' }]);
    expect(long.status).toBe(400);
    expect(long.json.detail).toContain('outputs.0.ttl');
    const twice = await put(await github(), [
      { name: 'A', value: 'v' },
      { name: 'A', value: 'w' },
    ]);
    expect(twice.json.code).toBe('invalid_request');
    const many = Array.from({ length: 21 }, (_, index) => ({ name: `N${index}`, value: 'v' }));
    expect((await put(await github(), many)).json.code).toBe('invalid_request');
  });

  it('refuses a box put under another name than the one inside it (a swapped box)', async () => {
    const run = { run_id: '5550003' };
    const swapped = await put(await github(run), [
      { name: 'PUBLIC', value: canary('swap'), inside: 'SECRET' },
    ]);
    expect(swapped.status).toBe(400);
    expect(swapped.json.code).toBe('invalid_request');
    expect(swapped.json.detail).toContain('"PUBLIC" holds the box of another output');
    expect((await get(await github(run), ['run/PUBLIC'])).result.json.code).toBe('secret_not_found');
  });

  it('replaces an output put twice in one run (audited as a replacement)', async () => {
    const run = { run_id: '5550004' };
    expect((await put(await github(run), [{ name: 'TWICE', value: 'first' }])).status).toBe(200);
    const second = await put(await github(run), [{ name: 'TWICE', value: 'second' }]);
    expect((await h.auditRecord(second.json.request_id)).outputs).toMatchObject([
      { name: 'run/TWICE', version: 2, replaced: true },
    ]);
    const { values } = await get(await github(run), ['run/TWICE']);
    expect(values).toEqual([{ name: 'run/TWICE', version: 2, value: 'second' }]);
  });

  it('releases outputs with secrets all-or-nothing, and refuses patterns and versions over run/', async () => {
    const run = { run_id: '5550005' };
    expect((await put(await github(run), [{ name: 'ONE', value: 'v1' }])).status).toBe(200);
    const both = await get(await github(run), ['run/ONE', 'run/MISSING']);
    expect(both.result.json.code).toBe('secret_not_found');
    expect(both.result.json.secrets).toEqual(['run/MISSING']);
    for (const entry of ['run/*', 'run/ONE@1', 'run/ONE|run/TWO']) {
      const refused = await get(await github(run), [entry]);
      expect(refused.result.json.code, entry).toBe('invalid_request');
    }
  });

  it('spends the token: a put token cannot be replayed', async () => {
    const token = await github({ run_id: '5550006' });
    expect((await put(token, [{ name: 'ONCE', value: 'v' }])).status).toBe(200);
    expect((await put(token, [{ name: 'ONCE', value: 'other' }])).json.code).toBe('token_replayed');
  });

  it('refuses a token that names no run', async () => {
    const refused = await put(await github({ run_id: undefined }), [{ name: 'NORUN', value: 'v' }]);
    expect(refused.json.code).toBe('invalid_request');
    expect(refused.json.detail).toContain('carry no run identifier');
  });

  it('keeps nothing readable in the database: only sealed boxes', async () => {
    const value = canary('at-rest');
    expect((await put(await github({ run_id: '5550007' }), [{ name: 'AT_REST', value }])).status).toBe(200);
    const file = join(h.dataDir, 'broker.db');
    const places: Record<string, Buffer> = { db: await readFile(file) };
    const wal = await readFile(`${file}-wal`).catch(() => undefined);
    if (wal !== undefined) places.wal = wal;
    expect(findLeaks([value], places)).toEqual([]);
  });

  it('a stored box taken from the database cannot be put into another run, nor read there if moved', async () => {
    const value = canary('stolen-box');
    expect((await put(await github({ run_id: '5550008' }), [{ name: 'STOLEN', value }])).status).toBe(200);
    const database = new Database(join(h.dataDir, 'broker.db'));
    try {
      const row = database
        .prepare("SELECT sealed FROM run_outputs WHERE run = 'github:98765:5550008' AND name = 'run/STOLEN'")
        .get() as { sealed: Buffer };
      // Put into the attacker's own run: the stored form is not a put box.
      const replayed = await h.request('POST', '/v1/outputs', {
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await github({ run_id: '5550009' })}`,
        },
        body: JSON.stringify({ outputs: [{ name: 'STOLEN', sealed: row.sealed.toString('base64') }] }),
      });
      expect(replayed.status).toBe(400);
      expect(replayed.text).toContain('does not hold the JSON');
      expect(replayed.text).not.toContain(value);
      // Moved in the database under another run: it names its own run inside, and is not released.
      const moved = await put(await github({ run_id: '5550010' }), [
        { name: 'STOLEN', value: 'decoy-value' },
      ]);
      expect(moved.status).toBe(200);
      database
        .prepare(
          "UPDATE run_outputs SET sealed = ? WHERE run = 'github:98765:5550010' AND name = 'run/STOLEN'",
        )
        .run(row.sealed);
    } finally {
      database.close();
    }
    const read = await get(await github({ run_id: '5550010' }), ['run/STOLEN']);
    expect(read.result.status).not.toBe(200);
    expect(read.result.text).not.toContain(value);
  });

  it('counts puts by outcome in the metrics', async () => {
    const metrics = await h.request('GET', '/metrics');
    expect(metrics.text).toMatch(/secrets_broker_output_puts_total\{outcome="allowed",code="ok"\} [1-9]/);
    expect(metrics.text).toMatch(
      /secrets_broker_output_puts_total\{outcome="denied",code="policy_denied"\} 1/,
    );
  });

  it('rotation: old outputs stay readable until the old key is dropped; then they and puts to it are refused', async () => {
    const run = { run_id: '5550008' };
    const oldKey = await outputKey();
    expect((await put(await github(run), [{ name: 'BEFORE', value: 'old' }], oldKey)).status).toBe(200);

    const rotated = await h.admin('POST', '/output-key/rotate', {});
    expect(rotated.status, rotated.text).toBe(200);
    const info = await h.request('GET', '/v1/info');
    expect(info.json.run_output_key_id).toBe(rotated.json.key_id);
    expect(info.json.run_output_key).not.toBe(oldKey.toString('base64'));
    expect((await get(await github(run), ['run/BEFORE'])).values).toEqual([
      { name: 'run/BEFORE', version: 1, value: 'old' },
    ]);
    // Still kept: a put sealed to the old key is accepted.
    expect((await put(await github(run), [{ name: 'KEPT', value: 'k' }], oldKey)).status).toBe(200);

    const dropped = await h.admin('POST', '/output-key/drop-old');
    expect(dropped.status, dropped.text).toBe(200);
    expect(dropped.json.dropped_outputs).toBeGreaterThanOrEqual(2);
    expect((await get(await github(run), ['run/BEFORE'])).result.json.code).toBe('secret_not_found');
    const late = await put(await github(run), [{ name: 'LATE', value: 'l' }], oldKey);
    expect(late.status).toBe(400);
    expect(late.json.detail).toContain('not sealed to a run-output key this broker holds');
    expect(late.json.hint).toContain('/v1/info');
    expect((await put(await github(run), [{ name: 'AFTER', value: 'new' }])).status).toBe(200);

    expect((await h.admin('POST', '/output-key/rotate', {}, 'not-a-token')).status).toBe(401);
  });
});
