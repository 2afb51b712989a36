/**
 * The keyed chain's rules, on an in-memory store: every link binds the running content digest, key rotations and
 * rolling restarts, forgeries under keys nobody configured, the keying of a chain from before the keyed chain.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseChainHead, verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import {
  AuditChainKeys,
  contentDigest,
  parseLink,
  unkeyedLink,
} from '../../src/broker/audit/audit-chain-keys.js';
import { AuditLog, UnkeyedAuditChainError } from '../../src/broker/audit/audit-log.js';
import type { AdminAuditRecord } from '../../src/broker/audit/audit-records.js';
import { ChainHeadPublisher } from '../../src/broker/audit/chain-head-publisher.js';
import { GENESIS_HASH } from '../../src/broker/audit/audit-batcher.js';
import type { AuditEntry, AuditRecords } from '../../src/broker/store/interfaces.js';
import { EventLoopTurns } from '../helpers/event-loop-turns.js';
import { masterKeyFromBytes, type MasterKey } from '../../src/broker/store/master-key.js';

class MemoryAuditRecords implements AuditRecords {
  readonly entries: AuditEntry[] = [];

  append(record: string, hashFor: (prevHash: string, record: string) => string): Promise<AuditEntry> {
    const last = this.entries.at(-1);
    const prevHash = last?.hash ?? GENESIS_HASH;
    const entry = { seq: (last?.seq ?? 0) + 1, record, prevHash, hash: hashFor(prevHash, record) };
    this.entries.push(entry);
    return Promise.resolve(entry);
  }

  page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return Promise.resolve(this.entries.filter((entry) => entry.seq > afterSeq).slice(0, limit));
  }

  head(): Promise<{ seq: number; hash: string } | undefined> {
    const last = this.entries.at(-1);
    return Promise.resolve(last === undefined ? undefined : { seq: last.seq, hash: last.hash });
  }

  query(): Promise<AuditEntry[]> {
    return Promise.resolve([]);
  }

  /** What someone with write access to the database does: replace an entry as it is stored. */
  replace(seq: number, change: Partial<AuditEntry>): void {
    const index = this.entries.findIndex((entry) => entry.seq === seq);
    this.entries[index] = { ...this.entries[index]!, ...change };
  }
}

const master = (): MasterKey => masterKeyFromBytes(randomBytes(32));

async function write(store: MemoryAuditRecords, keys: AuditChainKeys, count: number, text = 'r') {
  for (let index = 0; index < count; index += 1)
    await store.append(JSON.stringify({ kind: 'test', text, index }), keys.link);
}

/** A forger's link: the right digest, labelled with any fingerprint, and an HMAC under a key of its own. */
function forgedLink(fingerprint: string, checked = true) {
  const forger = new AuditChainKeys(master());
  return (prevHash: string, record: string): string => {
    const before = parseLink(prevHash);
    const digest = contentDigest(before.kind === 'unknown' ? prevHash : before.digest, record);
    const mac = forger.link(prevHash, record).split(':')[3];
    return `${checked ? 'hmac2' : 'hmac2u'}:${fingerprint}:${digest}:${mac}`;
  };
}

function logCollector() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { lines, logger };
}

describe('links', () => {
  it('bind the running content digest, which for a chain from before the keyed chain is its links', () => {
    const keys = new AuditChainKeys(master());
    const legacy = unkeyedLink(GENESIS_HASH, 'one');
    const link = keys.link(legacy, 'two');
    const parsed = parseLink(link);
    expect(parsed).toEqual({
      kind: 'keyed',
      fingerprint: keys.currentFingerprint,
      digest: contentDigest(legacy, 'two'),
      checkedPrevious: false,
    });
    expect(parseLink(keys.link(link, 'three'))).toMatchObject({
      digest: contentDigest(contentDigest(legacy, 'two'), 'three'),
      checkedPrevious: true,
    });
    expect(keys.verify(link)).toBe(true);
    expect(keys.verify(link.replace(/.$/, (last) => (last === '0' ? '1' : '0')))).toBe(false);
    expect(new AuditChainKeys(master()).verify(link)).toBeUndefined();
    // The first version of the keyed chain (never released) is no longer a form this broker accepts.
    expect(parseLink(`hmac1:${keys.currentFingerprint}:${'ab'.repeat(32)}`)).toEqual({ kind: 'unknown' });
  });

  it('say whether the writer checked the link before: not under a key it lacks, nor an invalid one', () => {
    const [a, b] = [master(), master()];
    const onA = new AuditChainKeys(a);
    const onB = new AuditChainKeys(b, [a]);
    const underA = onA.link(GENESIS_HASH, 'one');
    expect(new AuditChainKeys(b).linkAfter(underA, 'two').previous).toBe('unconfigured');
    expect(onB.linkAfter(underA, 'two').previous).toBe('verified');
    const tampered = `${underA.slice(0, -1)}${underA.endsWith('0') ? '1' : '0'}`;
    expect(new AuditChainKeys(b, [a]).linkAfter(tampered, 'two').previous).toBe('invalid');
    expect(onA.linkAfter(GENESIS_HASH, 'x').previous).toBe('genesis');
    expect(onA.linkAfter(unkeyedLink(GENESIS_HASH, 'x'), 'y').previous).toBe('unkeyed');
  });

  it('published heads parse only in a form the broker writes', () => {
    const link = new AuditChainKeys(master()).link(GENESIS_HASH, 'r');
    expect(parseChainHead(`12:${link}`)).toEqual({ seq: 12, hash: link });
    expect(parseChainHead(`3:${'a'.repeat(64)}`)).toEqual({ seq: 3, hash: 'a'.repeat(64) });
    for (const bad of [
      '0:' + link,
      '12',
      `12:${link}x`,
      `x:${link}`,
      `12:hmac1:${'a'.repeat(16)}:${'b'.repeat(64)}`,
    ])
      expect(parseChainHead(bad)).toBeUndefined();
  });
});

describe('verifyAuditChain', () => {
  it('lets the event loop turn between pages, so a long chain never holds it', async () => {
    const keys = new AuditChainKeys(master());
    const pagesRead: number[] = [];
    const turnsSeen: number[] = [];
    const turns = new EventLoopTurns();
    // Answers each page at once, as SQLite does: only the walk itself can give other work a turn.
    const store = new (class extends MemoryAuditRecords {
      override page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
        pagesRead.push(afterSeq);
        turnsSeen.push(turns.count);
        return super.page(afterSeq, limit);
      }
    })();
    await write(store, keys, 50);
    try {
      expect(await verifyAuditChain(store, { keys, pageSize: 10 })).toMatchObject({ ok: true });
    } finally {
      turns.stop();
    }
    expect(pagesRead).toEqual([0, 10, 20, 30, 40, 50]);
    for (let index = 1; index < turnsSeen.length; index += 1)
      expect(turnsSeen[index]!).toBeGreaterThan(turnsSeen[index - 1]!);
  });

  it('A to B to C: with C alone, the A and B records are pinned by the C records and reported', async () => {
    const [a, b, c] = [master(), master(), master()];
    const store = new MemoryAuditRecords();
    await write(store, new AuditChainKeys(a), 3);
    await write(store, new AuditChainKeys(b, [a]), 3);
    await write(store, new AuditChainKeys(c, [b]), 3);

    const result = await verifyAuditChain(store, { keys: new AuditChainKeys(c) });
    expect(result).toMatchObject({ ok: true, checked: 9, keyed: 3, hashOnly: 0 });
    expect(result.underUnconfiguredKey).toEqual([
      { key: a.fingerprint, first: 1, last: 3, count: 3 },
      { key: b.fingerprint, first: 4, last: 6, count: 3 },
    ]);
    expect(await verifyAuditChain(store, { keys: new AuditChainKeys(c, [b]) })).toMatchObject({
      ok: true,
      keyed: 6,
    });

    // Any record under a key not configured is pinned: editing one is caught, even with the digests recomputed.
    const edited = store.entries[1]!.record.replace('"index":1', '"index":9');
    store.replace(2, { record: edited });
    const plain = await verifyAuditChain(store, { keys: new AuditChainKeys(c) });
    expect(plain).toMatchObject({ ok: false, problem: { seq: 2 } });
    let prev = store.entries[0]!.hash;
    for (const seq of [2, 3, 4, 5, 6]) {
      const entry = store.entries[seq - 1]!;
      const [tag, fingerprint, , mac] = entry.hash.split(':');
      const digest = contentDigest(
        parseLink(prev).kind === 'keyed' ? prev.split(':')[2]! : prev,
        entry.record,
      );
      const hash = `${tag}:${fingerprint}:${digest}:${mac}`;
      store.replace(seq, { prevHash: prev, hash });
      prev = hash;
    }
    store.replace(7, { prevHash: prev });
    const recomputed = await verifyAuditChain(store, { keys: new AuditChainKeys(c) });
    expect(recomputed).toMatchObject({ ok: false, problem: { seq: 7 } });
    expect(recomputed.problem!.reason).toContain('or one of records 1-6 before it');
  });

  it('a rolling restart interleaves two keys; a replica left on the old key alone is caught once it is retired', async () => {
    const [a, b] = [master(), master()];
    const store = new MemoryAuditRecords();
    const oldReplica = new AuditChainKeys(a);
    const newReplica = new AuditChainKeys(b, [a]);
    await write(store, oldReplica, 1);
    await write(store, newReplica, 1);
    await write(store, oldReplica, 2);
    await write(store, newReplica, 1);
    const onlyB = new AuditChainKeys(b);
    const during = await verifyAuditChain(store, { keys: onlyB });
    expect(during.ok).toBe(true);
    expect(during.underUnconfiguredKey).toEqual([{ key: a.fingerprint, first: 1, last: 4, count: 3 }]);
    expect(await verifyAuditChain(store, { keys: newReplica })).toMatchObject({ ok: true, keyed: 5 });

    // The old key retired everywhere but on one replica: what it writes next is followed unchecked.
    await write(store, oldReplica, 1);
    await write(store, onlyB, 1);
    const after = await verifyAuditChain(store, { keys: onlyB });
    expect(after).toMatchObject({ ok: false, problem: { seq: 6 } });
    expect(after.problem!.reason).toContain('could not check');
    // With the old key configured again, it verifies: it was the old key's holder that wrote it.
    expect(await verifyAuditChain(store, { keys: newReplica })).toMatchObject({ ok: true, keyed: 7 });
  });

  it('records under a key nobody configured: refused as the newest, and when the broker wrote on top', async () => {
    const keys = new AuditChainKeys(master());
    const store = new MemoryAuditRecords();
    await write(store, keys, 2);
    const madeUp = master().fingerprint;
    await store.append('{"kind":"forged","n":1}', forgedLink(madeUp));
    await store.append('{"kind":"forged","n":2}', forgedLink(madeUp));
    const newest = await verifyAuditChain(store, { keys });
    expect(newest).toMatchObject({ ok: false, problem: { seq: 3 } });
    expect(newest.problem!.reason).toContain(`the newest records 3-4 are under chain key ${madeUp}`);

    await write(store, keys, 1);
    const onTop = await verifyAuditChain(store, { keys });
    expect(onTop).toMatchObject({ ok: false, problem: { seq: 3 } });
    expect(onTop.problem!.reason).toContain(
      'record 5 was linked to them by a broker that could not check them',
    );
  });

  it('a link under a configured key must carry its HMAC', async () => {
    const keys = new AuditChainKeys(master());
    const store = new MemoryAuditRecords();
    await write(store, keys, 2);
    await store.append('{"kind":"forged"}', forgedLink(keys.currentFingerprint));
    const forged = await verifyAuditChain(store, { keys });
    expect(forged).toMatchObject({ ok: false, problem: { seq: 3 } });
    expect(forged.problem!.reason).toContain('forged');
  });

  it('pages through the chain and checks heads on every page', async () => {
    const keys = new AuditChainKeys(master());
    const store = new MemoryAuditRecords();
    await write(store, keys, 25);
    const heads = [store.entries[4]!, store.entries[19]!].map(({ seq, hash }) => ({ seq, hash }));
    const result = await verifyAuditChain(store, { keys, heads, pageSize: 7 });
    expect(result).toMatchObject({ ok: true, checked: 25, keyed: 25, headsMatched: [5, 20] });
    expect(result.head).toEqual({ seq: 25, hash: store.entries[24]!.hash });
  });

  it('unkeyed records: only as a prefix, followed by the keying record, and never alone', async () => {
    const keys = new AuditChainKeys(master());
    const { logger } = logCollector();
    const store = new MemoryAuditRecords();
    await store.append('{"legacy":1}', unkeyedLink);
    await store.append('{"legacy":2}', unkeyedLink);
    const alone = await verifyAuditChain(store, { keys });
    expect(alone).toMatchObject({ ok: false, hashOnly: 2, problem: { seq: 2 } });
    expect(alone.problem!.reason).toContain('no record is keyed');

    // Written on without the keying record: what a rewrite without the key, then any append, looks like.
    const rewritten = new MemoryAuditRecords();
    rewritten.entries.push(...store.entries);
    await write(rewritten, keys, 1);
    const notKeying = await verifyAuditChain(rewritten, { keys });
    expect(notKeying).toMatchObject({ ok: false, problem: { seq: 3 } });
    expect(notKeying.problem!.reason).toContain('not the record a broker writes when it keys');

    const log = new AuditLog(store, logger, keys);
    await log.checkKeyed(true);
    await write(store, keys, 1);
    const keyed = await verifyAuditChain(store, { keys });
    expect(keyed).toMatchObject({ ok: true, hashOnly: 2, keyed: 2, keyedFrom: { seq: 3 } });

    await store.append('{"legacy":3}', unkeyedLink);
    const after = await verifyAuditChain(store, { keys });
    expect(after).toMatchObject({ ok: false, problem: { seq: 5 } });
    expect(after.problem!.reason).toContain('after keyed records');
  });
});

describe('AuditLog', () => {
  const record = (action: string): AdminAuditRecord => ({
    kind: 'admin',
    time: new Date().toISOString(),
    request_id: 'r',
    source_ip: '127.0.0.1',
    outcome: 'allowed',
    code: null,
    admin_token_id: null,
    admin_label: null,
    role: null,
    action,
    target: null,
    detail: null,
  });

  it('refuses a chain from before the keyed chain unless the operator says to key it; nothing for an empty or keyed one', async () => {
    const keys = new AuditChainKeys(master());
    const { logger } = logCollector();
    const empty = new MemoryAuditRecords();
    await new AuditLog(empty, logger, keys).checkKeyed(false);
    expect(empty.entries).toEqual([]);

    const legacy = new MemoryAuditRecords();
    await legacy.append('{"legacy":1}', unkeyedLink);
    const log = new AuditLog(legacy, logger, keys);
    // A whole log rewritten without the key looks the same: never keyed on its own.
    await expect(log.checkKeyed(false)).rejects.toThrow(UnkeyedAuditChainError);
    expect(legacy.entries).toHaveLength(1);
    await log.checkKeyed(true);
    await log.append(record('whoami'));
    expect(legacy.entries.map((entry) => (JSON.parse(entry.record) as { action?: string }).action)).toEqual([
      undefined,
      'audit.chain_keyed',
      'whoami',
    ]);
    expect(JSON.parse(legacy.entries[1]!.record)).toMatchObject({ detail: { unkeyed_records: 1 } });
    expect(await verifyAuditChain(legacy, { keys })).toMatchObject({ ok: true, hashOnly: 1, keyed: 2 });

    // Another start on the now keyed chain writes no keying record, with the flag or without.
    await new AuditLog(legacy, logger, keys).checkKeyed(true);
    await new AuditLog(legacy, logger, keys).checkKeyed(false);
    expect(legacy.entries).toHaveLength(3);
  });

  it('an append after an unkeyed record that nobody keyed is unchecked, and the chain does not verify', async () => {
    const keys = new AuditChainKeys(master());
    const { logger } = logCollector();
    const store = new MemoryAuditRecords();
    await store.append('{"legacy":1}', unkeyedLink);
    await new AuditLog(store, logger, keys).append(record('whoami'));
    expect(store.entries[1]!.hash.startsWith('hmac2u:')).toBe(true);
    expect(await verifyAuditChain(store, { keys })).toMatchObject({ ok: false });
  });

  it('logs when it links to a record it could not check: once per key not held, every time for a bad link', async () => {
    const [a, b] = [master(), master()];
    const { lines, logger } = logCollector();
    const store = new MemoryAuditRecords();
    const log = new AuditLog(store, logger, new AuditChainKeys(b));
    await write(store, new AuditChainKeys(a), 1);
    await log.append(record('one'));
    await write(store, new AuditChainKeys(a), 1);
    await log.append(record('two'));
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`chain key ${a.fingerprint}, which this broker does not hold`);

    await store.append('{"kind":"forged"}', forgedLink(new AuditChainKeys(b).currentFingerprint));
    await log.append(record('three'));
    const errors = lines.filter((line) => line.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toContain('does not verify under its chain key');
  });
});

describe('ChainHeadPublisher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the head read from the store at each interval, and nothing for an empty log', async () => {
    vi.useFakeTimers();
    const { lines, logger } = logCollector();
    const store = new MemoryAuditRecords();
    const publisher = new ChainHeadPublisher(store, logger);
    expect(await publisher.publish()).toBeUndefined();
    publisher.start(60_000);
    await write(store, new AuditChainKeys(master()), 2);
    await vi.advanceTimersByTimeAsync(60_000);
    await write(store, new AuditChainKeys(master()), 1);
    await vi.advanceTimersByTimeAsync(60_000);
    publisher.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lines.map((line) => line.audit_chain_head)).toEqual([
      { seq: 2, hash: store.entries[1]!.hash },
      { seq: 3, hash: store.entries[2]!.hash },
    ]);
  });
});
