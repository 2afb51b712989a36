/**
 * The keyed audit chain (issue 11, "Also in scope"): each link carries the running content digest of the chain and
 * an HMAC of it under a key derived from the master key, so someone with write access to the database but without
 * the master key cannot edit a record and recompute the rest, whatever the keys of the records in between;
 * published heads let `audit verify --head` detect a rewritten or truncated tail.
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
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';
import { UnkeyedAuditChainError } from '../../src/broker/audit/audit-log.js';
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
    expect(await verify(h)).toMatchObject({ ok: true, hash_only: 0 });
    rewrite(h, 3, flipDenied, sha256Link);
    const result = await verify(h);
    expect(result.ok).toBe(false);
    expect(result.problem).toMatchObject({ seq: 3 });
    expect((result.problem as { reason: string }).reason).toContain('only hash-chained');
    const run = await cli(h, ['audit', 'verify']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the audit chain is broken at record 3');
  });

  it('with an HMAC under a wrong key, labelled with the real key or with a key of its own, does not verify', async () => {
    const h = await auditedHarness();
    const fingerprint = parseMasterKey(h.masterKeyHex, 'test').fingerprint;
    const wrongKey = randomBytes(32);
    const ownLabel = parseMasterKey(wrongKey.toString('hex'), 'attacker').fingerprint;
    /** What a forger can compute: the right digests, and an HMAC under a key of its own. */
    const forgedLink = (label: string) => (prev: string, record: string) => {
      const previous = prev.startsWith('hmac2') ? prev.split(':')[2]! : prev;
      const digest = sha256Link(previous, record);
      const mac = createHmac('sha256', wrongKey).update(`hmac2:${label}:${digest}`).digest('hex');
      return `hmac2:${label}:${digest}:${mac}`;
    };

    rewrite(h, 3, flipDenied, forgedLink(fingerprint));
    const sameLabel = await verify(h);
    expect(sameLabel.ok).toBe(false);
    expect(sameLabel.problem).toMatchObject({ seq: 3, reason: expect.stringContaining('forged') });

    rewrite(h, 3, (row) => row.record, forgedLink(ownLabel));
    const ownKey = await verify(h);
    expect(ownKey.ok).toBe(false);
    expect(ownKey.problem).toMatchObject({ seq: 3 });
    expect((ownKey.problem as { reason: string }).reason).toContain(ownLabel);
    // Nor once the broker has written on top of the forged records: it could not check them, and says so.
    await h.setSecret('prod/api/LATER', 'later');
    const onTop = await verify(h);
    expect(onTop.ok).toBe(false);
    expect(onTop.problem).toMatchObject({ seq: 3, reason: expect.stringContaining('could not check') });
  });
});

describe('published chain heads', () => {
  it('are logged, printed by verify, and catch a truncated or rewritten tail that verify alone cannot', async () => {
    const h = await auditedHarness();
    const published = await h.broker.publishAuditHead();
    expect(published).toMatchObject({ seq: expect.any(Number), hash: expect.stringMatching(/^hmac2:/) });
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
    expect(matched.stdout).toMatch(/head: record \d+ hmac2:/);

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

/** A data directory whose audit log was written before the chain was keyed: `count` plain SHA-256 links. */
async function legacyDataDir(count: number): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'legacy-chain-'));
  directories.push(dataDir);
  const stores = openSqliteStores(join(dataDir, DATABASE_FILE));
  try {
    for (let index = 0; index < count; index += 1)
      await stores.audit.append(JSON.stringify({ kind: 'legacy', index }), sha256Link);
  } finally {
    await stores.close();
  }
  return dataDir;
}

describe('a database from before the chain was keyed', () => {
  it('stops the broker until an operator keys it; keyed, its unkeyed records verify as a prefix', async () => {
    const dataDir = await legacyDataDir(3);
    // A whole log rewritten without the key looks the same: the broker does not vouch for it on its own.
    await expect(BrokerHarness.start({ dataDir })).rejects.toThrow(UnkeyedAuditChainError);
    const h = (harness = await BrokerHarness.start({
      dataDir,
      environment: { SECRETS_BROKER_KEY_LEGACY_AUDIT: 'true' },
    }));
    // Before anything else is written: the keying record pins the three.
    const keyedAtOnce = await verify(h);
    expect(keyedAtOnce).toMatchObject({ ok: true, hash_only: 3, keyed: 1, keyed_from: { seq: 4 } });
    const [keying] = await h.broker.stores.audit.page(3, 1);
    expect(JSON.parse(keying!.record)).toMatchObject({
      kind: 'admin',
      action: 'audit.chain_keyed',
      detail: { unkeyed_records: 3 },
    });
    await h.setSecret('prod/api/DB_PASSWORD', 'value');
    const result = await verify(h);
    expect(result).toMatchObject({ ok: true, hash_only: 3 });
    expect(result.keyed).toBe((result.checked as number) - 3);
    const run = await cli(h, ['audit', 'verify']);
    expect(run.stdout).toContain('3 only hash-chained');
    expect(run.stdout).toContain('records 1-3 are only hash-chained');
    expect(run.stdout).toContain('record 4, written 20');
    expect((await cli(h, ['audit', '--kind', 'admin'])).stdout).toContain(
      'audit.chain_keyed (3 records before were not keyed)',
    );

    rewrite(h, 5, (row) => row.record, sha256Link);
    const broken = await verify(h);
    expect(broken).toMatchObject({ ok: false, problem: { seq: 5 } });
  });

  it('the keying record pins the unkeyed records: one edited with the plain links recomputed is caught', async () => {
    const dataDir = await legacyDataDir(3);
    const h = (harness = await BrokerHarness.start({
      dataDir,
      environment: { SECRETS_BROKER_KEY_LEGACY_AUDIT: 'true' },
    }));
    expect(await verify(h)).toMatchObject({ ok: true, keyed_from: { seq: 4 } });
    const database = new Database(join(h.dataDir, DATABASE_FILE));
    try {
      const rows = database.prepare('SELECT * FROM audit_log WHERE seq <= 4 ORDER BY seq').all() as Row[];
      let prev = rows[0]!.hash;
      for (const row of rows.slice(1, 3)) {
        const record = row.seq === 2 ? row.record.replace('"index":1', '"index":7') : row.record;
        const hash = sha256Link(prev, record);
        database
          .prepare('UPDATE audit_log SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?')
          .run(record, prev, hash, row.seq);
        prev = hash;
      }
      database.prepare('UPDATE audit_log SET prev_hash = ? WHERE seq = 4').run(prev);
    } finally {
      database.close();
    }
    const edited = await verify(h);
    expect(edited).toMatchObject({ ok: false, problem: { seq: 4 } });
    expect((edited.problem as { reason: string }).reason).toContain('or one of records 1-3 before it');
  });
});

describe('across a master key rotation', () => {
  it('verifies with both keys; with the new key alone, the old records are pinned by the new ones', async () => {
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const fingerprintA = parseMasterKey(keyA, 'A').fingerprint;
    const h = await auditedHarness({ masterKeyHex: keyA });
    const underA = (await h.broker.stores.audit.head())!.seq;

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });
    expect((await cli(h, ['rotate-key'])).code).toBe(0);
    const both = await verify(h);
    expect(both).toMatchObject({ ok: true, hash_only: 0, under_unconfigured_key: [] });
    expect(both.keyed).toBe(both.checked);

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });
    await h.setSecret('prod/api/AFTER', 'after');
    const onlyB = await verify(h);
    expect(onlyB.ok).toBe(true);
    expect(onlyB.under_unconfigured_key).toEqual([
      { key: fingerprintA, first: 1, last: underA, count: underA },
    ]);
    expect(onlyB.keyed).toBe((onlyB.checked as number) - underA);
    const run = await cli(h, ['audit', 'verify']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`records 1-${underA} are under chain key ${fingerprintA}`);

    // A record labelled with the retired key, added after the rotation: the broker writes on, but could not check it.
    const database = new Database(join(h.dataDir, DATABASE_FILE));
    let forgedSeq = 0;
    try {
      const last = database.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as {
        seq: number;
        hash: string;
      };
      const record = '{"kind":"forged"}';
      forgedSeq = last.seq + 1;
      const digest = sha256Link(last.hash.split(':')[2]!, record);
      database
        .prepare('INSERT INTO audit_log (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)')
        .run(last.seq + 1, record, last.hash, `hmac2:${fingerprintA}:${digest}:${'ab'.repeat(32)}`);
    } finally {
      database.close();
    }
    const forgedNewest = await verify(h);
    expect(forgedNewest.ok).toBe(false);
    expect((forgedNewest.problem as { reason: string }).reason).toContain(fingerprintA);
    await h.setSecret('prod/api/ON_TOP', 'on top');
    const forged = await verify(h);
    expect(forged.ok).toBe(false);
    expect(forged.problem).toMatchObject({
      seq: forgedSeq,
      reason: expect.stringContaining('could not check'),
    });
    expect((forged.problem as { reason: string }).reason).toContain(fingerprintA);
  });
});

/** Red team (issue 11, keyed chain): forgeries by someone with write access to the database and no master key. */
describe('forgeries without the master key', () => {
  const forge = (row: Row): string => {
    const record = JSON.parse(row.record) as Record<string, unknown>;
    if (record.kind !== 'exchange' || record.outcome !== 'allowed') return row.record;
    return JSON.stringify({ ...record, repository: 'innocent/repo', released: [], outcome: 'denied' });
  };

  it('M3: the whole chain rewritten as plain SHA-256 links does not verify, nor once the broker wrote on top', async () => {
    const h = await auditedHarness();
    rewrite(h, 1, forge, sha256Link);
    const rewritten = await verify(h);
    expect(rewritten.ok).toBe(false);
    expect(rewritten).toMatchObject({ keyed: 0 });
    const run = await cli(h, ['audit', 'verify']);
    expect(run.code).toBe(1);

    await h.setSecret('prod/api/ON_TOP', 'on top');
    const onTop = await verify(h);
    expect(onTop.ok).toBe(false);
  });

  it('M4: after a completed rotation, a record written under the retired key cannot be edited', async () => {
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const h = await auditedHarness({ masterKeyHex: keyA });
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });
    expect((await cli(h, ['rotate-key'])).code).toBe(0);
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });
    expect(await verify(h)).toMatchObject({ ok: true });

    const database = new Database(join(h.dataDir, DATABASE_FILE));
    let target: Row;
    try {
      const rows = database.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[];
      target = rows.find((row) => forge(row) !== row.record)!;
      database.prepare('UPDATE audit_log SET record = ? WHERE seq = ?').run(forge(target), target.seq);
    } finally {
      database.close();
    }
    const edited = await verify(h);
    expect(edited.ok).toBe(false);
    expect(edited.problem).toMatchObject({ seq: target.seq });
    const head = await h.broker.publishAuditHead();
    const withHead = await cli(h, ['audit', 'verify', '--head', `${head!.seq}:${head!.hash}`]);
    expect(withHead.code).toBe(1);
    expect(withHead.stderr).toContain(`the audit chain is broken at record ${target.seq}`);
  });

  it('M3 then a restart: the broker refuses to start on the rewritten log and does not key it', async () => {
    const h = await auditedHarness();
    const before = await h.broker.publishAuditHead();
    await h.stopBroker();
    rewrite(h, 1, forge, sha256Link);
    // Without an operator's say-so the rewrite is never keyed: the broker stops, and verify keeps failing.
    await expect(h.startBroker()).rejects.toThrow(UnkeyedAuditChainError);
    await expect(h.startBroker()).rejects.toThrow(/not keyed: it was written by a broker from before/);
    // Only an operator starting with the flag keys it, and a head published before the rewrite still exposes it.
    await h.startBroker({}, { SECRETS_BROKER_KEY_LEGACY_AUDIT: 'true' });
    const checked = await verify(h, `?head=${encodeURIComponent(`${before!.seq}:${before!.hash}`)}`);
    expect(checked).toMatchObject({ ok: false, problem: { seq: before!.seq } });
    expect((checked.problem as { reason: string }).reason).toContain('were rewritten');
  });

  it('M4 with the digests of the old-key records recomputed: the first record under the new key exposes it', async () => {
    const keyA = randomBytes(32).toString('hex');
    const keyB = randomBytes(32).toString('hex');
    const h = await auditedHarness({ masterKeyHex: keyA });
    const underA = (await h.broker.stores.audit.head())!.seq;
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });
    expect((await cli(h, ['rotate-key'])).code).toBe(0);
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });

    const database = new Database(join(h.dataDir, DATABASE_FILE));
    try {
      const rows = database.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[];
      let prev = '0'.repeat(64);
      let digest = '0'.repeat(64);
      for (const row of rows.slice(0, underA)) {
        const record = forge(row);
        digest = sha256Link(digest, record);
        const [tag, fingerprint, , mac] = row.hash.split(':');
        const hash = `${tag}:${fingerprint}:${digest}:${mac}`;
        database
          .prepare('UPDATE audit_log SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?')
          .run(record, prev, hash, row.seq);
        prev = hash;
      }
      database.prepare('UPDATE audit_log SET prev_hash = ? WHERE seq = ?').run(prev, underA + 1);
    } finally {
      database.close();
    }
    const edited = await verify(h);
    expect(edited).toMatchObject({ ok: false, problem: { seq: underA + 1 } });
    expect((edited.problem as { reason: string }).reason).toContain(
      `or one of records 1-${underA} before it`,
    );
  });
});
