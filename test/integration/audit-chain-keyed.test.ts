/**
 * The keyed audit chain (issue 11, "Also in scope"): links are HMACs under a key derived from the master key, so
 * someone with write access to the database but without the master key cannot edit a record and recompute the
 * rest; published heads let `audit verify --head` detect a rewritten or truncated tail.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { parseMasterKey } from '../../src/broker/store/master-key.js';
import { openSqliteStores } from '../../src/broker/store/sqlite/open-sqlite-stores.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness | undefined;
const directories: string[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

const cli = (h: BrokerHarness, args: string[]) => runCli(args, { environment: adminEnvironment(h) });

const sha256Link = (prev: string, record: string): string =>
  createHash('sha256').update(prev).update('\n').update(record).digest('hex');

interface Row {
  seq: number;
  record: string;
  prev_hash: string;
  hash: string;
}

/** What someone with write access to the database can do: change rows, and relink every row from `from` on. */
function rewrite(
  h: BrokerHarness,
  from: number,
  edit: (row: Row) => string,
  link: (prev: string, record: string) => string,
): void {
  const database = new Database(join(h.dataDir, DATABASE_FILE));
  try {
    database.transaction(() => {
      const rows = database.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq').all(from) as Row[];
      let prev = rows[0]!.prev_hash;
      for (const row of rows) {
        const record = edit(row);
        const hash = link(prev, record);
        database
          .prepare('UPDATE audit_log SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?')
          .run(record, prev, hash, row.seq);
        prev = hash;
      }
    })();
  } finally {
    database.close();
  }
}

function deleteFrom(h: BrokerHarness, seq: number): void {
  const database = new Database(join(h.dataDir, DATABASE_FILE));
  try {
    database.prepare('DELETE FROM audit_log WHERE seq >= ?').run(seq);
  } finally {
    database.close();
  }
}

async function verify(h: BrokerHarness, query = ''): Promise<Record<string, unknown>> {
  const result = await h.admin('GET', `/audit/verify${query}`);
  expect(result.status, result.text).toBe(200);
  return result.json;
}

async function auditedHarness(options: { masterKeyHex?: string; dataDir?: string } = {}) {
  const h = (harness = await BrokerHarness.start(options));
  await h.setSecret('prod/api/DB_PASSWORD', 'value');
  const token = () => h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
  expect((await h.exchange(await token(), ['prod/api/DB_PASSWORD'])).status).toBe(200);
  expect((await h.exchange(await token(), ['other/NOPE'])).status).toBe(403);
  expect((await h.exchange(await token(), ['prod/api/DB_PASSWORD'])).status).toBe(200);
  return h;
}

const flipDenied = (row: Row): string =>
  row.seq === 3 ? row.record.replace('"denied"', '"allowed"') : row.record;

describe('an edit with the rest of the chain recomputed', () => {
  it('in plain SHA-256 (no key needed) does not verify', async () => {
    const h = await auditedHarness();
    expect(await verify(h)).toMatchObject({ ok: true, hashOnly: 0 });
    rewrite(h, 3, flipDenied, sha256Link);
    const result = await verify(h);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ seq: 3 });
    expect((result.problem as { reason: string }).reason).toContain('only hash-chained');
    const run = await cli(h, ['audit', 'verify']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the audit chain is broken at record 3');
  });

  it('in plain SHA-256 from the first record on: verifies only as hash-chained, which verify reports', async () => {
    const h = await auditedHarness();
    rewrite(h, 1, flipDenied, sha256Link);
    const result = await verify(h);
    // Every record now looks like one from before the chain was keyed; the count says so (see --head below).
    expect(result).toMatchObject({ ok: true, keyed: 0 });
    expect(result.hashOnly).toBe(result.checked);
    expect((await cli(h, ['audit', 'verify'])).stdout).toMatch(/only hash-chained/);
  });

  it('with an HMAC under a wrong key, labelled with the real key or with a key of its own, does not verify', async () => {
    const h = await auditedHarness();
    const fingerprint = parseMasterKey(h.masterKeyHex, 'test').fingerprint;
    const wrongKey = randomBytes(32);
    const hmacLink = (label: string) => (prev: string, record: string) =>
      `hmac1:${label}:${createHmac('sha256', wrongKey).update(prev).update('\n').update(record).digest('hex')}`;

    rewrite(h, 3, flipDenied, hmacLink(fingerprint));
    const sameLabel = await verify(h);
    expect(sameLabel.ok).toBe(false);
    expect(sameLabel.problem).toMatchObject({ seq: 3, reason: expect.stringContaining('was edited') });

    const ownLabel = parseMasterKey(wrongKey.toString('hex'), 'attacker').fingerprint;
    rewrite(h, 3, (row) => row.record, hmacLink(ownLabel));
    // Even once the broker has written keyed records on top of the forged ones.
    await h.setSecret('prod/api/LATER', 'later');
    const ownKey = await verify(h);
    expect(ownKey.ok).toBe(false);
    expect(ownKey.problem).toMatchObject({ seq: 3 });
    expect((ownKey.problem as { reason: string }).reason).toContain(ownLabel);
  });
});

describe('published chain heads', () => {
  it('are logged, printed by verify, and catch a truncated or rewritten tail that verify alone cannot', async () => {
    const h = await auditedHarness();
    const published = await h.broker.publishAuditHead();
    expect(published).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^hmac1:/) });
    const logged = h.logs
      .map((line) => JSON.parse(line) as { audit_chain_head?: { seq: number; hash: string } })
      .filter((line) => line.audit_chain_head !== undefined)
      .at(-1);
    expect(logged!.audit_chain_head).toEqual(published);
    const head = `${published!.seq}:${published!.hash}`;

    await h.setSecret('prod/api/MORE', 'more');
    const matched = await cli(h, ['audit', 'verify', '--head', head]);
    expect(matched.code, matched.stderr).toBe(0);
    expect(matched.stdout).toContain(`record ${published!.seq} matches the published head`);
    expect(matched.stdout).toMatch(/head: record \d+ hmac1:/);

    // The newest records deleted: the rest is a valid chain, so verify alone cannot tell. (Checked without the
    // admin API, whose own audit record would take the place of the deleted ones; see the rewritten case below.)
    const kept = published!.seq - 2;
    deleteFrom(h, kept + 1);
    expect(await verifyAuditChain(h.broker.stores.audit, { keys: h.broker.auditChainKeys })).toMatchObject({
      ok: true,
      lastSeq: kept,
    });
    const truncated = await cli(h, ['audit', 'verify', '--head', head]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toContain(
      `the newest records, from ${kept + 1} to ${published!.seq} at least, were deleted`,
    );

    // Once the broker has written on after the deletion, the published record holds another hash.
    await h.setSecret('prod/api/AFTER', 'after');
    await h.setSecret('prod/api/AFTER', 'after again');
    const rewritten = await verify(h, `?head=${encodeURIComponent(head)}`);
    expect(rewritten.ok).toBe(false);
    expect((rewritten.problem as { reason: string }).reason).toContain(
      `records up to ${published!.seq} were rewritten`,
    );

    const bad = await h.admin('GET', '/audit/verify?head=seven:abc');
    expect(bad.status).toBe(400);
    expect((await cli(h, ['audit', 'verify', '--head', 'seven'])).stderr).toContain('SEQ:HASH');
  });
});

describe('a database from before the chain was keyed', () => {
  it('verifies: its unkeyed records as a prefix, counted; an unkeyed record after a keyed one fails', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'legacy-chain-'));
    directories.push(dataDir);
    const stores = openSqliteStores(join(dataDir, DATABASE_FILE));
    try {
      for (let index = 0; index < 3; index += 1)
        await stores.audit.append(JSON.stringify({ kind: 'legacy', index }), sha256Link);
    } finally {
      await stores.close();
    }
    const h = await auditedHarness({ dataDir });
    const result = await verify(h);
    expect(result).toMatchObject({ ok: true, hashOnly: 3 });
    expect(result.keyed).toBe((result.checked as number) - 3);
    expect((await cli(h, ['audit', 'verify'])).stdout).toContain('3 only hash-chained');

    rewrite(h, 5, (row) => row.record, sha256Link);
    const broken = await verify(h);
    expect(broken).toMatchObject({ ok: false, problem: { seq: 5 } });
  });
});

describe('across a master key rotation', () => {
  it('verifies with both keys; with the new key alone, the old records are linked but not verified', async () => {
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const fingerprintA = parseMasterKey(keyA, 'A').fingerprint;
    const h = await auditedHarness({ masterKeyHex: keyA });
    const underA = (await h.broker.stores.audit.head())!.seq;

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });
    expect((await cli(h, ['rotate-key'])).code).toBe(0);
    const both = await verify(h);
    expect(both).toMatchObject({ ok: true, hashOnly: 0, linkedOnly: [] });
    expect(both.keyed).toBe(both.checked);

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });
    await h.setSecret('prod/api/AFTER', 'after');
    const onlyB = await verify(h);
    expect(onlyB.ok).toBe(true);
    expect(onlyB.linkedOnly).toEqual([{ key: fingerprintA, first: 1, last: underA, count: underA }]);
    expect(onlyB.keyed).toBe((onlyB.checked as number) - underA);
    const run = await cli(h, ['audit', 'verify']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`records 1-${underA} are under chain key ${fingerprintA}`);

    // A record claiming the retired key after the rotation retired it is not taken on trust.
    const database = new Database(join(h.dataDir, DATABASE_FILE));
    try {
      const last = database.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as {
        seq: number;
        hash: string;
      };
      database
        .prepare('INSERT INTO audit_log (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)')
        .run(last.seq + 1, '{"kind":"forged"}', last.hash, `hmac1:${fingerprintA}:${'ab'.repeat(32)}`);
    } finally {
      database.close();
    }
    await h.setSecret('prod/api/ON_TOP', 'on top');
    const forged = await verify(h);
    expect(forged.ok).toBe(false);
    expect((forged.problem as { reason: string }).reason).toContain(fingerprintA);
  });
});
