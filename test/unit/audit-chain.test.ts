/** The keyed chain's rules, on an in-memory store: key rotations, rolling restarts, relinking, published heads. */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyAuditChain } from '../../src/broker/audit/audit-chain.js';
import { AuditChainKeys, unkeyedLink } from '../../src/broker/audit/audit-chain-keys.js';
import { ChainHeadPublisher } from '../../src/broker/audit/chain-head-publisher.js';
import { GENESIS_HASH } from '../../src/broker/store/audit-batcher.js';
import type { AuditEntry, AuditRecords } from '../../src/broker/store/interfaces.js';
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
}

const master = (): MasterKey => masterKeyFromBytes(randomBytes(32));

/** The record a rotation writes: it names the chain keys it retires. */
function rotation(keys: AuditChainKeys): string {
  return JSON.stringify({
    kind: 'admin',
    outcome: 'allowed',
    action: 'keys.rotate',
    target: 'begin',
    detail: { chain_key: keys.currentFingerprint, retired_chain_keys: keys.retiredFingerprints.join(',') },
  });
}

async function write(store: MemoryAuditRecords, keys: AuditChainKeys, count: number, text = 'r') {
  for (let index = 0; index < count; index += 1)
    await store.append(JSON.stringify({ kind: 'test', text, index }), keys.link);
}

describe('verifyAuditChain with keys', () => {
  it('A to B to C: with C alone, the A and B records are linked only, vouched for by the rotations', async () => {
    const [a, b, c] = [master(), master(), master()];
    const store = new MemoryAuditRecords();
    const onA = new AuditChainKeys(a);
    const onB = new AuditChainKeys(b, [a]);
    const onC = new AuditChainKeys(c, [b]);
    await write(store, onA, 3);
    await store.append(rotation(onB), onB.link);
    await write(store, onB, 2);
    await store.append(rotation(onC), onC.link);
    await write(store, onC, 2);

    const result = await verifyAuditChain(store, { keys: new AuditChainKeys(c) });
    expect(result).toMatchObject({ ok: true, checked: 9, keyed: 3, hashOnly: 0 });
    expect(result.linkedOnly).toEqual([
      { key: a.fingerprint, first: 1, last: 3, count: 3 },
      { key: b.fingerprint, first: 4, last: 6, count: 3 },
    ]);
    expect(await verifyAuditChain(store, { keys: new AuditChainKeys(c, [b]) })).toMatchObject({
      ok: true,
      keyed: 6,
    });
  });

  it('a rolling restart interleaves two keys: fine before the rotation, refused after it', async () => {
    const [a, b] = [master(), master()];
    const store = new MemoryAuditRecords();
    const oldReplica = new AuditChainKeys(a);
    const newReplica = new AuditChainKeys(b, [a]);
    await write(store, oldReplica, 1);
    await write(store, newReplica, 1);
    await write(store, oldReplica, 1);
    await store.append(rotation(newReplica), newReplica.link);
    await write(store, newReplica, 1);
    const onlyB = new AuditChainKeys(b);
    const before = await verifyAuditChain(store, { keys: onlyB });
    expect(before.ok).toBe(true);
    expect(before.linkedOnly).toEqual([{ key: a.fingerprint, first: 1, last: 3, count: 2 }]);

    // A replica left on the old key after the rotation.
    await write(store, oldReplica, 1);
    await write(store, newReplica, 1);
    const after = await verifyAuditChain(store, { keys: onlyB });
    expect(after.ok).toBe(false);
    expect(after.problem).toMatchObject({ seq: 6 });
    expect(after.problem!.reason).toContain('which the key rotation in record 4 retired');
    // With both keys, every record verifies.
    expect(await verifyAuditChain(store, { keys: newReplica })).toMatchObject({ ok: true, keyed: 7 });
  });

  it('a rotation only vouches when it verifies: one written under an unknown key vouches for nothing', async () => {
    const [a, attacker] = [master(), master()];
    const store = new MemoryAuditRecords();
    const forger = new AuditChainKeys(attacker, [a]);
    await write(store, new AuditChainKeys(a), 2);
    await store.append(rotation(forger), forger.link);
    const result = await verifyAuditChain(store, { keys: new AuditChainKeys(master()) });
    expect(result.ok).toBe(false);
    expect(result.problem!.seq).toBe(1);
    expect(result.problem!.reason).toContain('no key rotation retired');
  });

  it('without keys, checks the links only', async () => {
    const store = new MemoryAuditRecords();
    await write(store, new AuditChainKeys(master()), 3);
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true, keyed: 0, checked: 3 });
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

  it('an unkeyed record is accepted only in the prefix, and must match its SHA-256', async () => {
    const keys = new AuditChainKeys(master());
    const store = new MemoryAuditRecords();
    await store.append('{"legacy":1}', unkeyedLink);
    await write(store, keys, 1);
    await store.append('{"legacy":2}', unkeyedLink);
    const result = await verifyAuditChain(store, { keys });
    expect(result).toMatchObject({ ok: false, hashOnly: 1, keyed: 1, problem: { seq: 3 } });
  });
});

describe('ChainHeadPublisher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the head read from the store at each interval, and nothing for an empty log', async () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
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
    const heads = lines.map((line) => (JSON.parse(line) as { audit_chain_head: unknown }).audit_chain_head);
    expect(heads).toEqual([
      { seq: 2, hash: store.entries[1]!.hash },
      { seq: 3, hash: store.entries[2]!.hash },
    ]);
  });
});
