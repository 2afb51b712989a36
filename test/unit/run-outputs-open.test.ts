/** Opening put boxes with the run-output key: what a put of 20 outputs costs the event loop (information only). */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { RunOutputKeys } from '../../src/broker/outputs/run-output-keys.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import { KeyRing } from '../../src/broker/store/key-ring.js';
import { parseMasterKey } from '../../src/broker/store/master-key.js';
import { sealOutput } from '../integration/run-outputs-sealing.js';

describe('run-output keys', () => {
  it('open 20 sealed outputs of 64 KiB on the event loop in a few milliseconds (measured, not asserted)', async () => {
    const stores = openSqliteStores(':memory:');
    try {
      const keyRing = new KeyRing(parseMasterKey('11'.repeat(32), 'test'));
      const keys = await RunOutputKeys.load(stores.outputs, keyRing, pino({ level: 'silent' }));
      const key = Buffer.from(keys.current.publicKey, 'base64');
      const boxes = Array.from({ length: 20 }, (_, index) =>
        Buffer.from(sealOutput(key, { name: `N${index}`, value: 'x'.repeat(64 * 1024) }), 'base64'),
      );
      const rounds = 20;
      const started = performance.now();
      for (let round = 0; round < rounds; round += 1)
        for (const box of boxes) expect(keys.open(box)?.keyId).toBe(keys.current.keyId);
      const perPut = (performance.now() - started) / rounds;
      console.info(`opening 20 boxes of 64 KiB: ${perPut.toFixed(2)} ms per put (indicative)`);
      expect(keys.open(Buffer.alloc(100))).toBeUndefined();
    } finally {
      await stores.close();
    }
  });

  it('is created once and read back by a second load (another replica), unwrapped with the master key', async () => {
    const stores = openSqliteStores(':memory:');
    try {
      const keyRing = new KeyRing(parseMasterKey('22'.repeat(32), 'test'));
      const silent = pino({ level: 'silent' });
      const first = await RunOutputKeys.load(stores.outputs, keyRing, silent);
      const second = await RunOutputKeys.load(stores.outputs, keyRing, silent);
      expect(second.current).toEqual(first.current);
      const rotated = await first.rotate();
      expect(await second.refreshIfRotated()).toBe(true);
      expect(second.current).toEqual(rotated);
      expect(second.keyIds).toHaveLength(2);
      await first.dropOld();
      await second.refresh();
      expect(second.keyIds).toEqual([rotated.keyId]);
    } finally {
      await stores.close();
    }
  });
});
