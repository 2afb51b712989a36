import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptValue, DecryptionError, encryptValue } from '../../src/broker/store/envelope.js';
import { KeyRing, parseKeyId } from '../../src/broker/store/key-ring.js';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';

const ring = new KeyRing(masterKeyFromBytes(randomBytes(32)));
const keyId = ring.currentKeyId;
const kek = ring.wrappingKey(keyId)!;

describe('envelope encryption', () => {
  it('round-trips a value and uses a fresh data key and nonce each time', () => {
    const value = Buffer.from('s3cr3t\nline two');
    const a = encryptValue(value, 'prod/x', 1, keyId, kek);
    const b = encryptValue(value, 'prod/x', 1, keyId, kek);
    expect(decryptValue(a, 'prod/x', 1, kek).toString()).toBe('s3cr3t\nline two');
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ciphertext.includes(value)).toBe(false);
  });

  it('binds name, version and key id: any other row fails to decrypt', () => {
    const encrypted = encryptValue(Buffer.from('v'), 'prod/x', 2, keyId, kek);
    expect(() => decryptValue(encrypted, 'prod/y', 2, kek)).toThrow(DecryptionError);
    expect(() => decryptValue(encrypted, 'prod/x', 3, kek)).toThrow(DecryptionError);
    expect(() => decryptValue({ ...encrypted, keyId: `${keyId.slice(0, -1)}9` }, 'prod/x', 2, kek)).toThrow(
      DecryptionError,
    );
  });

  it('fails under another wrapping key or a flipped bit', () => {
    const encrypted = encryptValue(Buffer.from('v'), 'n', 1, keyId, kek);
    expect(() => decryptValue(encrypted, 'n', 1, randomBytes(32))).toThrow(DecryptionError);
    const flipped = Buffer.from(encrypted.ciphertext);
    flipped[0]! ^= 1;
    expect(() => decryptValue({ ...encrypted, ciphertext: flipped }, 'n', 1, kek)).toThrow(DecryptionError);
  });
});

describe('key ring', () => {
  it('derives distinct KEKs per master key and version and knows only its own keys', () => {
    const master = masterKeyFromBytes(randomBytes(32));
    const v1 = new KeyRing(master, [], 1);
    const v2 = new KeyRing(master, [], 2);
    expect(v1.currentKeyId).toBe(`${master.fingerprint}.v1`);
    expect(v2.wrappingKey(v2.currentKeyId)!.equals(v1.wrappingKey(v1.currentKeyId)!)).toBe(false);
    expect(v2.wrappingKey(v1.currentKeyId)!.equals(v1.wrappingKey(v1.currentKeyId)!)).toBe(true);
    expect(v1.wrappingKey(`${'0'.repeat(16)}.v1`)).toBeUndefined();
    expect(parseKeyId('nonsense')).toBeUndefined();
  });

  it('opens keys of an old master key during rotation', () => {
    const old = masterKeyFromBytes(randomBytes(32));
    const current = masterKeyFromBytes(randomBytes(32));
    const ring = new KeyRing(current, [old]);
    expect(ring.wrappingKey(`${old.fingerprint}.v1`)).toBeDefined();
    expect(ring.currentKeyId.startsWith(current.fingerprint)).toBe(true);
  });
});
