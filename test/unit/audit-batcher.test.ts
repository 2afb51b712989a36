import { describe, expect, it } from 'vitest';
import {
  AuditBatcher,
  GENESIS_HASH,
  linkBatch,
  writtenEntries,
  type AppendOutcome,
  type PendingAppend,
} from '../../src/broker/audit/audit-batcher.js';
import { TokenAlreadyUsedError } from '../../src/broker/store/interfaces.js';

const hashFor = (prev: string, record: string) => `${prev}>${record}`;
const pending = (record: string): PendingAppend => ({ record, hashFor, tokenUse: undefined });

/** A writer that records each batch and commits it only when the test says so. */
function gatedWriter() {
  const batches: string[][] = [];
  const gates: Array<() => void> = [];
  let seq = 0;
  const write = (appends: readonly PendingAppend[]): Promise<AppendOutcome[]> => {
    batches.push(appends.map((append) => append.record));
    return new Promise((resolve) => {
      gates.push(() =>
        resolve(
          appends.map((append) =>
            append.record.startsWith('used')
              ? new TokenAlreadyUsedError('used')
              : { seq: ++seq, record: append.record, prevHash: '', hash: '' },
          ),
        ),
      );
    });
  };
  return { batches, write, release: () => gates.shift()?.() };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('AuditBatcher', () => {
  it('writes the appends of one turn as one batch, and those arriving meanwhile as the next', async () => {
    const writer = gatedWriter();
    const batcher = new AuditBatcher(writer.write);
    const first = ['a', 'b', 'c'].map((record) => batcher.append(pending(record)));
    await turn();
    expect(writer.batches).toEqual([['a', 'b', 'c']]);

    const second = ['d', 'e'].map((record) => batcher.append(pending(record)));
    await turn();
    await turn();
    // Still one batch in flight: d and e wait for it rather than opening a second transaction.
    expect(writer.batches).toHaveLength(1);
    writer.release();
    expect((await Promise.all(first)).map((entry) => entry.seq)).toEqual([1, 2, 3]);
    await turn();
    expect(writer.batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    writer.release();
    expect((await Promise.all(second)).map((entry) => entry.seq)).toEqual([4, 5]);
  });

  it('rejects only the replayed append of a batch', async () => {
    const writer = gatedWriter();
    const batcher = new AuditBatcher(writer.write);
    const results = Promise.allSettled(['x', 'used-y', 'z'].map((record) => batcher.append(pending(record))));
    await turn();
    writer.release();
    expect((await results).map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('rejects every append of a failed batch with its error and goes on with the next batch', async () => {
    let calls = 0;
    const batcher = new AuditBatcher(async (appends) => {
      calls += 1;
      if (calls === 1) throw new Error('disk full');
      return appends.map((append, index) => ({
        seq: index + 1,
        record: append.record,
        prevHash: '',
        hash: '',
      }));
    });
    const failed = await Promise.allSettled([batcher.append(pending('a')), batcher.append(pending('b'))]);
    expect(failed.map((result) => (result as PromiseRejectedResult).reason?.message)).toEqual([
      'disk full',
      'disk full',
    ]);
    expect((await batcher.append(pending('c'))).record).toBe('c');
  });

  it('caps a batch at 256 appends and writes the rest in the following ones', async () => {
    const sizes: number[] = [];
    const batcher = new AuditBatcher(async (appends) => {
      sizes.push(appends.length);
      return appends.map((append) => ({ seq: 0, record: append.record, prevHash: '', hash: '' }));
    });
    await Promise.all(Array.from({ length: 600 }, (_, index) => batcher.append(pending(`r${index}`))));
    expect(sizes).toEqual([256, 256, 88]);
  });

  it('links a batch onto the head in order; a replay takes no sequence number and no place in the chain', () => {
    const outcomes = linkBatch(
      undefined,
      ['a', 'used-b', 'c'].map(pending),
      (append) => !append.record.startsWith('used'),
    );
    expect(outcomes[1]).toBeInstanceOf(TokenAlreadyUsedError);
    expect(writtenEntries(outcomes)).toEqual([
      { seq: 1, record: 'a', prevHash: GENESIS_HASH, hash: `${GENESIS_HASH}>a` },
      { seq: 2, record: 'c', prevHash: `${GENESIS_HASH}>a`, hash: `${GENESIS_HASH}>a>c` },
    ]);
    expect(writtenEntries(linkBatch({ seq: 41, hash: 'h' }, [pending('d')], () => true))).toEqual([
      { seq: 42, record: 'd', prevHash: 'h', hash: 'h>d' },
    ]);
  });
});
