import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { xsalsa20poly1305, hsalsa } from '@noble/ciphers/salsa.js';
import { swap32IfBE, u32 } from '@noble/ciphers/utils.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { CodedError } from '../protocol/coded-error.js';
import { parseSealedPayload, type SealedPayload } from '../protocol/wire-shapes.js';

/**
 * A fresh X25519 key pair for one run. X25519 is Node.js's own (OpenSSL); BLAKE2b and XSalsa20-Poly1305, which
 * Node.js lacks, are @noble's audited JavaScript. No native add-on and no WebAssembly in the client bundles.
 */
export interface RecipientKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

export class SealedBoxError extends CodedError {
  readonly code: string = 'sealed_box_invalid';
  override name = 'SealedBoxError';
}

const KEY_BYTES = 32;
const TAG_BYTES = 16;
/** What crypto_box_seal adds to the message: the ephemeral public key and the Poly1305 tag. */
export const SEAL_OVERHEAD_BYTES = KEY_BYTES + TAG_BYTES;
/** Salsa20's constant, "expand 32-byte k", as little-endian words. */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

/** The fixed DER before the 32 key bytes of an X25519 public key (SPKI) and private key (PKCS #8), RFC 8410. */
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * A fresh X25519 key pair, as raw bytes. The keys come out of the generation already encoded (DER), never as
 * KeyObjects: on Node.js 20, exporting a generated key as JWK can deadlock the process for good when a garbage
 * collection during the export frees the generation's job, which takes the lock the export holds.
 */
export async function newRecipientKeyPair(): Promise<RecipientKeyPair> {
  const { publicKey, privateKey } = generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  try {
    return {
      publicKey: rawKeyAfter(SPKI_X25519_PREFIX, publicKey),
      privateKey: rawKeyAfter(PKCS8_X25519_PREFIX, privateKey),
    };
  } finally {
    privateKey.fill(0);
  }
}

function rawKeyAfter(prefix: Buffer, der: Buffer): Uint8Array {
  if (der.length !== prefix.length + KEY_BYTES || !der.subarray(0, prefix.length).equals(prefix))
    throw new Error('Node.js encoded an X25519 key in an unexpected form');
  return new Uint8Array(der.subarray(prefix.length));
}

/**
 * X25519(privateKey, peerKey), all raw 32-byte keys; `publicKey` is the private key's own. Imported as JWK,
 * which Node.js hands to OpenSSL as raw keys (a DER import starts OpenSSL's decoders, several ms more).
 */
export function sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array, peerKey: Uint8Array): Buffer {
  const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
  return diffieHellman({
    privateKey: createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: base64url(privateKey), x: base64url(publicKey) },
      format: 'jwk',
    }),
    publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(peerKey) }, format: 'jwk' }),
  });
}

export function encodeRecipient(keyPair: RecipientKeyPair): string {
  return Buffer.from(keyPair.publicKey).toString('base64');
}

/** crypto_box_seal's nonce: BLAKE2b-192 of the ephemeral public key, then the recipient's. */
function sealNonce(ephemeralKey: Uint8Array, recipientKey: Uint8Array): Uint8Array {
  const nonceInput = new Uint8Array(2 * KEY_BYTES);
  nonceInput.set(ephemeralKey, 0);
  nonceInput.set(recipientKey, KEY_BYTES);
  return blake2b(nonceInput, { dkLen: 24 });
}

/**
 * crypto_box's key between `privateKey` (whose own public key is `publicKey`) and `peerKey`:
 * HSalsa20(X25519(privateKey, peerKey), 16 zero bytes). Throws for a small-order peer key, as libsodium does.
 * The caller wipes the key it gets.
 */
function boxKey(privateKey: Uint8Array, publicKey: Uint8Array, peerKey: Uint8Array): Uint8Array {
  const derived = sharedSecret(privateKey, publicKey, peerKey);
  // Copied into a fresh, 4-byte-aligned array for the word view HSalsa20 reads.
  const shared = new Uint8Array(derived);
  derived.fill(0);
  const keyWords = new Uint32Array(8);
  try {
    // libsodium refuses a shared secret of all zeros (a small-order key).
    if (shared.every((byte) => byte === 0)) throw new Error('small-order key');
    hsalsa(SIGMA, u32(shared), new Uint32Array(4), keyWords);
    return new Uint8Array(swap32IfBE(keyWords).buffer.slice(0));
  } finally {
    shared.fill(0);
    keyWords.fill(0);
  }
}

/**
 * libsodium's crypto_box_seal_open: the box is the sender's ephemeral public key, then crypto_box_easy's output
 * (Poly1305 tag, then ciphertext) under nonce BLAKE2b-192(ephemeral key || recipient key) and key
 * HSalsa20(X25519(recipient secret, ephemeral key), 16 zero bytes). Throws on any box that does not open.
 */
export function openSealedBox(box: Uint8Array, publicKey: Uint8Array, privateKey: Uint8Array): Uint8Array {
  if (box.length < SEAL_OVERHEAD_BYTES) throw new Error('too short for a sealed box');
  const ephemeralKey = box.subarray(0, KEY_BYTES);
  const key = boxKey(privateKey, publicKey, ephemeralKey);
  try {
    return xsalsa20poly1305(key, sealNonce(ephemeralKey, publicKey)).decrypt(box.subarray(KEY_BYTES));
  } finally {
    key.fill(0);
  }
}

/**
 * libsodium's crypto_box_seal: `message` sealed to `recipientKey` (raw 32 bytes) with a fresh ephemeral key
 * pair, whose private key is wiped once used. Only the holder of the recipient's private key can open it.
 */
export async function sealBox(message: Uint8Array, recipientKey: Uint8Array): Promise<Uint8Array> {
  if (recipientKey.length !== KEY_BYTES) throw new SealedBoxError('a recipient key is 32 bytes');
  const ephemeral = await newRecipientKeyPair();
  let key: Uint8Array;
  try {
    key = boxKey(ephemeral.privateKey, ephemeral.publicKey, recipientKey);
  } catch {
    throw new SealedBoxError('the recipient key is not a usable X25519 public key');
  } finally {
    wipeKeyPair(ephemeral);
  }
  try {
    const encrypted = xsalsa20poly1305(key, sealNonce(ephemeral.publicKey, recipientKey)).encrypt(message);
    const box = new Uint8Array(KEY_BYTES + encrypted.length);
    box.set(ephemeral.publicKey, 0);
    box.set(encrypted, KEY_BYTES);
    return box;
  } finally {
    key.fill(0);
  }
}

/** Opens one sealed box and checks its JSON payload's shape. */
export function openSealedPayload(sealed: string, keyPair: RecipientKeyPair): SealedPayload {
  let plaintext: Uint8Array;
  try {
    plaintext = openSealedBox(Buffer.from(sealed, 'base64'), keyPair.publicKey, keyPair.privateKey);
  } catch {
    throw new SealedBoxError(
      "a sealed box does not open with this run's key (it was sealed to another key or altered)",
    );
  }
  try {
    const payload = parseSealedPayload(JSON.parse(Buffer.from(plaintext).toString('utf8')));
    if (payload === undefined) throw new Error('not a sealed payload');
    return payload;
  } catch {
    throw new SealedBoxError('a sealed box opened but does not hold {"name","version","value"}');
  } finally {
    plaintext.fill(0);
  }
}

export function wipeKeyPair(keyPair: RecipientKeyPair): void {
  keyPair.privateKey.fill(0);
}
