/**
 * The client's sealed-box open (node:crypto X25519 + @noble BLAKE2b and XSalsa20-Poly1305) against libsodium
 * itself (sodium-native, as the broker seals): every box libsodium seals opens to the same bytes, and every
 * altered, truncated or misaddressed box is refused.
 */
import fc from 'fast-check';
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import { sealPayload } from '../../src/broker/sealing.js';
import {
  newRecipientKeyPair,
  openSealedBox,
  openSealedPayload,
  SEAL_OVERHEAD_BYTES,
  SealedBoxError,
  wipeKeyPair,
  type RecipientKeyPair,
} from '../../src/client/sealed-box.js';

function sodiumSeal(message: Uint8Array, publicKey: Uint8Array): Buffer {
  const box = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(box, Buffer.from(message), Buffer.from(publicKey));
  return box;
}

function sodiumKeyPair(): RecipientKeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const privateKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(publicKey, privateKey);
  return { publicKey, privateKey };
}

const open = (box: Uint8Array, keys: RecipientKeyPair): Uint8Array =>
  openSealedBox(box, keys.publicKey, keys.privateKey);

describe('the sealed-box open matches libsodium', () => {
  it('has the overhead libsodium adds', () => {
    expect(SEAL_OVERHEAD_BYTES).toBe(sodium.crypto_box_SEALBYTES);
  });

  it('makes key pairs libsodium agrees with (the public key is X25519 of the private key)', async () => {
    const keys = await newRecipientKeyPair();
    expect(keys.publicKey).toHaveLength(32);
    const publicKey = Buffer.alloc(32);
    sodium.crypto_scalarmult_base(publicKey, Buffer.from(keys.privateKey));
    expect(Buffer.from(keys.publicKey).equals(publicKey)).toBe(true);
    expect(Buffer.from((await newRecipientKeyPair()).publicKey).equals(publicKey)).toBe(false);
  });

  it('opens every box libsodium seals to its own key pairs and to ours', async () => {
    const ours = await newRecipientKeyPair();
    const theirs = sodiumKeyPair();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), (message, useOurs) => {
        const keys = useOurs ? ours : theirs;
        expect(
          Buffer.from(open(sodiumSeal(message, keys.publicKey), keys)).equals(Buffer.from(message)),
        ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("opens the broker's sealed payloads", async () => {
    const keys = await newRecipientKeyPair();
    const payload = { name: 'prod/api/DB_PASSWORD', version: 7, value: 'ünïcode\nline 2 %0A ::x::' };
    const sealed = sealPayload(payload, Buffer.from(keys.publicKey)).toString('base64');
    expect(openSealedPayload(sealed, keys)).toEqual(payload);
  });
});

describe('the sealed-box open refuses what libsodium refuses', () => {
  const message = new TextEncoder().encode('{"name":"a","version":1,"value":"v"}');

  it('refuses a box with any one byte changed', async () => {
    const keys = await newRecipientKeyPair();
    const box = sodiumSeal(message, keys.publicKey);
    fc.assert(
      fc.property(fc.nat({ max: box.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const altered = Buffer.from(box);
        altered[index] = (altered[index] as number) ^ flip;
        expect(() => open(altered, keys)).toThrow();
      }),
      { numRuns: 500 },
    );
    for (let index = 0; index < box.length; index += 1) {
      const altered = Buffer.from(box);
      altered[index] = (altered[index] as number) ^ 0x01;
      expect(() => open(altered, keys)).toThrow();
    }
  });

  it('refuses a truncated or extended box', async () => {
    const keys = await newRecipientKeyPair();
    const box = sodiumSeal(message, keys.publicKey);
    for (let length = 0; length < box.length; length += 1)
      expect(() => open(box.subarray(0, length), keys)).toThrow();
    expect(() => open(Buffer.concat([box, Buffer.from([0])]), keys)).toThrow();
  });

  it('refuses a box sealed to another key, and one opened with the right private key under the wrong public key', async () => {
    const keys = await newRecipientKeyPair();
    const other = await newRecipientKeyPair();
    expect(() => open(sodiumSeal(message, other.publicKey), keys)).toThrow();
    const box = sodiumSeal(message, keys.publicKey);
    expect(() => openSealedBox(box, other.publicKey, keys.privateKey)).toThrow();
    expect(Buffer.from(open(box, keys)).equals(Buffer.from(message))).toBe(true);
  });

  it('refuses a box whose ephemeral key is a small-order point', async () => {
    const keys = await newRecipientKeyPair();
    const box = sodiumSeal(message, keys.publicKey);
    box.fill(0, 0, 32);
    expect(() => open(box, keys)).toThrow();
  });

  it('no longer opens anything once the key pair is wiped', async () => {
    const keys = await newRecipientKeyPair();
    const sealed = sealPayload({ name: 'a', version: 1, value: 'v' }, Buffer.from(keys.publicKey)).toString(
      'base64',
    );
    wipeKeyPair(keys);
    expect(keys.privateKey.every((byte) => byte === 0)).toBe(true);
    expect(() => openSealedPayload(sealed, keys)).toThrow(SealedBoxError);
  });

  it('refuses an opened box that does not hold {"name","version","value"}', async () => {
    const keys = await newRecipientKeyPair();
    for (const content of ['not json', '{"name":"a","version":1}', '{"name":"a","version":0,"value":"v"}']) {
      const sealed = sodiumSeal(new TextEncoder().encode(content), keys.publicKey).toString('base64');
      expect(() => openSealedPayload(sealed, keys)).toThrow(
        'a sealed box opened but does not hold {"name","version","value"}',
      );
    }
  });
});
