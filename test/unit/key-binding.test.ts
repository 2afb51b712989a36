/** The key-binding functions both sides of the wire share (src/protocol/key-binding.ts) and the client's choices. */
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import {
  boundAudience,
  boundDigestIn,
  digestNamesKey,
  keyBindingDigest,
  keyProof,
  parseKeyProofHeader,
} from '../../src/protocol/key-binding.js';
import { keyProofHeader, parseKeyBindingChoice } from '../../src/client/key-binding.js';
import { newRecipientKeyPair } from '../../src/client/sealed-box.js';

describe('bound audiences', () => {
  it('digests SHA-256(label NUL audience NUL key) as base64url (a fixed vector, checked with Python hashlib)', () => {
    expect(keyBindingDigest('https://secrets.example.com', new Uint8Array(32).fill(7))).toBe(
      'xUtws9bWTlimrSiyPO_HrmP1VpTGNLZJFVhl2MgKpvU',
    );
  });

  it('binds an http(s) audience in its one spelling, any other audience as written', () => {
    const key = new Uint8Array(32).fill(1);
    expect(boundAudience('HTTPS://Secrets.example.com:443/', key)).toBe(
      boundAudience('https://secrets.example.com', key),
    );
    expect(boundAudience('https://secrets.example.com', key)).toMatch(
      /^https:\/\/secrets\.example\.com\/key-binding\/[A-Za-z0-9_-]{43}$/,
    );
    expect(boundAudience('broker', key)).toMatch(/^broker\/key-binding\//);
    expect(boundAudience('broker', key)).not.toBe(boundAudience('Broker', key));
  });

  it('finds the digest only in a bound form of the same audience, and names only its own key', () => {
    const key = new Uint8Array(32).fill(2);
    const other = new Uint8Array(32).fill(3);
    const bound = boundAudience('https://a.example', key);
    const digest = boundDigestIn(bound, 'https://a.example/') as string;
    expect(digest).toBe(keyBindingDigest('https://a.example', key));
    expect(boundDigestIn(bound, 'https://b.example')).toBeUndefined();
    expect(boundDigestIn('https://a.example', 'https://a.example')).toBeUndefined();
    expect(digestNamesKey(digest, 'https://a.example', key)).toBe(true);
    expect(digestNamesKey(digest, 'https://a.example', other)).toBe(false);
    expect(digestNamesKey(`${digest}x`, 'https://a.example', key)).toBe(false);
    expect(digestNamesKey('', 'https://a.example', key)).toBe(false);
  });
});

describe('key proofs', () => {
  it("the client's proof verifies with the broker's side of X25519 (libsodium), for that request only", async () => {
    const job = await newRecipientKeyPair();
    const brokerPublic = Buffer.alloc(32);
    const brokerSecret = Buffer.alloc(32);
    sodium.crypto_box_keypair(brokerPublic, brokerSecret);
    const request = { method: 'POST', path: '/v1/list', token: 'a.b.c', body: Buffer.from('{}') };
    const header = parseKeyProofHeader(keyProofHeader(job, brokerPublic, request));
    expect(header).toBeDefined();
    const shared = Buffer.alloc(32);
    sodium.crypto_scalarmult(shared, brokerSecret, header!.jobKey);
    expect(keyProof(shared, header!.jobKey, brokerPublic, request).equals(header!.proof)).toBe(true);
    for (const changed of [
      { ...request, path: '/v1/outputs' },
      { ...request, token: 'a.b.d' },
      { ...request, body: Buffer.from('{ }') },
      { ...request, method: 'GET' },
    ])
      expect(keyProof(shared, header!.jobKey, brokerPublic, changed).equals(header!.proof)).toBe(false);
  });

  it('reads only "<base64 key> <base64 proof>" of 32 bytes each', () => {
    const key = Buffer.alloc(32, 1).toString('base64');
    expect(parseKeyProofHeader(`${key} ${key}`)).toBeDefined();
    for (const text of [
      '',
      key,
      `${key}  ${key}`,
      `${key} ${key} ${key}`,
      `${key}\t${key}`,
      `${key.slice(0, -1)} ${key}`,
      `${Buffer.alloc(33).toString('base64')} ${key}`,
      `${key.replace('A', '-')} ${key}`,
    ])
      expect(parseKeyProofHeader(text), JSON.stringify(text)).toBeUndefined();
  });
});

describe("the client's choice", () => {
  it('reads auto, true/on and false/off, and nothing else', () => {
    expect(['', 'auto', ' AUTO '].map(parseKeyBindingChoice)).toEqual(['auto', 'auto', 'auto']);
    expect(['true', 'on', 'ON'].map(parseKeyBindingChoice)).toEqual(['on', 'on', 'on']);
    expect(['false', 'off'].map(parseKeyBindingChoice)).toEqual(['off', 'off']);
    expect(['yes', '1', 'required'].map(parseKeyBindingChoice)).toEqual([undefined, undefined, undefined]);
  });
});
