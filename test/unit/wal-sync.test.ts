/**
 * WalSync: a write is durable only after a sync that started after it, one sync serves every write made while
 * the previous one ran, and a failed sync fails every later write.
 */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WalSync } from '../../src/broker/sqlite/wal-sync.js';
import { StoreUnavailableError } from '../../src/broker/store/interfaces.js';
import { HeldDisk, someTurns, tracked } from '../helpers/held-disk.js';

let directory: string;
let file: string;
let disk: HeldDisk;
let wal: WalSync;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'wal-sync-'));
  file = join(directory, 'broker.db-wal');
  await writeFile(file, '');
  disk = new HeldDisk();
  wal = WalSync.open(file, disk.sync);
});

afterEach(async () => {
  disk.passThrough = true;
  await wal.close();
  await rm(directory, { recursive: true, force: true });
});

describe('WalSync', () => {
  it('answers a write only once a sync started after it has finished', async () => {
    const first = tracked(wal.durable());
    await disk.held();
    await someTurns();
    expect(first.settled).toBe(false);
    // Asked while that sync runs: the running one may have started before this write, so it waits for another.
    const second = tracked(wal.durable());
    const third = tracked(wal.durable());
    disk.release();
    await first.promise;
    await disk.held();
    await someTurns();
    expect({ second: second.settled, third: third.settled }).toEqual({ second: false, third: false });
    disk.release();
    await Promise.all([second.promise, third.promise]);
    // One sync served both writes made while the first ran.
    expect(disk.calls).toHaveLength(2);
  });

  it('a failed sync fails its writes, the ones waiting for the next and every later one, without syncing again', async () => {
    const first = wal.durable();
    await disk.held();
    const waiting = wal.durable();
    disk.fail();
    await expect(first).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(waiting).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(wal.durable()).rejects.toThrow(
      /could not be flushed to disk \(EIO.*until the broker is restarted/,
    );
    expect(wal.failed).toBeInstanceOf(StoreUnavailableError);
    expect(disk.calls).toHaveLength(1);
  });

  it('close waits for the sync under way; a write after it fails', async () => {
    const pending = wal.durable();
    await disk.held();
    const closing = tracked(wal.close());
    await someTurns();
    expect(closing.settled).toBe(false);
    disk.release();
    await pending;
    await closing.promise;
    await expect(wal.durable()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('opens no link and nothing but a regular file', async () => {
    await symlink(file, join(directory, 'link-wal'));
    expect(() => WalSync.open(join(directory, 'link-wal'))).toThrow(/ELOOP/);
    expect(() => WalSync.open(directory)).toThrow(StoreUnavailableError);
  });
});
