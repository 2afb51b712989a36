/** The sealing worker thread: boxes that open to the payloads, in order; failures fail closed. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SealingThread } from '../../src/broker/sealing-thread.js';
import { RecipientKeyError } from '../../src/broker/sealing.js';
import { newRecipient, openSealed } from '../helpers/broker-harness.js';

const payloads = Array.from({ length: 10 }, (_, index) => ({
  name: `prod/api/S${index}`,
  version: index + 1,
  value: `value-${index}-${'é'.repeat(index)}`,
}));

let sealer: SealingThread;

beforeEach(() => {
  sealer = new SealingThread();
});

afterEach(async () => {
  await sealer.close();
});

describe('SealingThread', () => {
  it('seals each payload to the recipient, in order', async () => {
    const recipient = newRecipient();
    const sealed = await sealer.seal(payloads, recipient.publicKey);
    expect(sealed.map((box) => openSealed(box, recipient))).toEqual(payloads);
    expect(await sealer.seal([], recipient.publicKey)).toEqual([]);
  });

  it('refuses a small-order key, and seals the next exchange as before', async () => {
    await expect(sealer.seal(payloads, Buffer.alloc(32))).rejects.toBeInstanceOf(RecipientKeyError);
    const recipient = newRecipient();
    expect(openSealed((await sealer.seal(payloads.slice(0, 1), recipient.publicKey))[0]!, recipient)).toEqual(
      payloads[0],
    );
  });

  it('a worker that fails fails the seal under way, and the next seal gets a new worker', async () => {
    const recipient = newRecipient();
    const underWay = sealer.seal(payloads, recipient.publicKey);
    // The worker reports an uncaught error (as a crash in it would), before it answers.
    sealer['worker']?.emit('error', new Error('worker crashed'));
    await expect(underWay).rejects.toThrow(/the sealing thread failed: worker crashed/);
    const sealed = await sealer.seal(payloads, recipient.publicKey);
    expect(openSealed(sealed[9]!, recipient)).toEqual(payloads[9]);
  });

  it('after workers lost three times in a row it reports itself down and waits before a new one, then recovers', async () => {
    let now = 0;
    const clocked = new SealingThread(() => now);
    try {
      const recipient = newRecipient();
      for (let loss = 1; loss <= 3; loss += 1) {
        expect(clocked.problem).toBeUndefined();
        const underWay = clocked.seal(payloads, recipient.publicKey);
        clocked['worker']?.emit('error', new Error(`crash ${loss}`));
        await expect(underWay).rejects.toThrow(/the sealing thread failed/);
      }
      expect(clocked.problem).toMatch(/lost 3 times in a row \(failed: crash 3\)/);
      // No new worker for every exchange meanwhile: refused at once, closed.
      await expect(clocked.seal(payloads, recipient.publicKey)).rejects.toThrow(/the sealing thread is down/);
      expect(clocked['worker']).toBeUndefined();
      now += 1000;
      const sealed = await clocked.seal(payloads, recipient.publicKey);
      expect(openSealed(sealed[0]!, recipient)).toEqual(payloads[0]);
      expect(clocked.problem).toBeUndefined();
    } finally {
      await clocked.close();
    }
  });

  it('seals nothing once closed', async () => {
    await sealer.close();
    await expect(sealer.seal(payloads, newRecipient().publicKey)).rejects.toThrow(/closed/);
  });
});
