/**
 * Key binding (DESIGN.md Additions): a job asks its CI provider for an ID token whose audience carries a digest
 * of the X25519 public key it will present, so a token that leaks before use is worth nothing with any other
 * key. The broker and the clients compute the bound audience with these functions, so both spell it alike.
 *
 * Requests that release nothing sealed to that key (a list, a put of run outputs) also prove they hold its
 * private key: an HMAC keyed by X25519(job key, broker run-output key) over the token and the exact body.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { normalHttpUrl } from './url-spelling.js';

/** Between the audience and the key digest in a bound audience: `https://secrets.example.com/key-binding/<digest>`. */
export const KEY_BINDING_SEPARATOR = '/key-binding/';
const BINDING_LABEL = 'secrets-action key binding v1';
const PROOF_KEY_LABEL = 'secrets-action key proof key v1';
const PROOF_LABEL = 'secrets-action key proof v1';
/** The request header carrying the key and its proof: `<base64 public key> <base64 HMAC-SHA256>`. */
export const KEY_PROOF_HEADER = 'secrets-key-proof';
/** The same header as messages name it. */
export const KEY_PROOF_HEADER_NAME = 'Secrets-Key-Proof';
const KEY_BYTES = 32;
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;

/** The one spelling of an audience both sides bind to: an http(s) URL as normalHttpUrl writes it, else the text. */
export function audienceSpelling(audience: string): string {
  return normalHttpUrl(audience) ?? audience;
}

/** base64url(SHA-256(label, audience, public key)): 43 characters. */
export function keyBindingDigest(audience: string, publicKey: Uint8Array): string {
  return createHash('sha256')
    .update(`${BINDING_LABEL}\0${audienceSpelling(audience)}\0`)
    .update(publicKey)
    .digest('base64url');
}

/** The audience a client requests its token with to bind it to `publicKey`. */
export function boundAudience(audience: string, publicKey: Uint8Array): string {
  return `${audienceSpelling(audience)}${KEY_BINDING_SEPARATOR}${keyBindingDigest(audience, publicKey)}`;
}

/** The key digest an `aud` value carries for `audience`, or undefined when it is not a bound form of it. */
export function boundDigestIn(audValue: string, audience: string): string | undefined {
  const prefix = `${audienceSpelling(audience)}${KEY_BINDING_SEPARATOR}`;
  return audValue.startsWith(prefix) ? audValue.slice(prefix.length) : undefined;
}

/** Whether `publicKey` is the key the digest names (constant time). */
export function digestNamesKey(digest: string, audience: string, publicKey: Uint8Array): boolean {
  const expected = Buffer.from(keyBindingDigest(audience, publicKey));
  const given = Buffer.from(digest);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a key proof covers: the request's method and path, the token, and the body's exact bytes. */
export interface ProvenRequest {
  readonly method: string;
  readonly path: string;
  readonly token: string;
  readonly body: Uint8Array;
}

/**
 * HMAC-SHA256 over the request, keyed by SHA-256 of the X25519 secret both sides compute (the job from its
 * private key and the broker's run-output public key, the broker the other way round) and both public keys.
 */
export function keyProof(
  sharedSecret: Uint8Array,
  jobKey: Uint8Array,
  brokerKey: Uint8Array,
  request: ProvenRequest,
): Buffer {
  const key = createHash('sha256')
    .update(`${PROOF_KEY_LABEL}\0`)
    .update(sharedSecret)
    .update(jobKey)
    .update(brokerKey)
    .digest();
  try {
    return createHmac('sha256', key)
      .update(`${PROOF_LABEL}\0${request.method.toUpperCase()}\0${request.path}\0`)
      .update(createHash('sha256').update(request.token).digest())
      .update(createHash('sha256').update(request.body).digest())
      .digest();
  } finally {
    key.fill(0);
  }
}

export function formatKeyProofHeader(jobKey: Uint8Array, proof: Uint8Array): string {
  return `${Buffer.from(jobKey).toString('base64')} ${Buffer.from(proof).toString('base64')}`;
}

/** The job key and proof of a key-proof header, or undefined when it is not exactly that shape. */
export function parseKeyProofHeader(text: string): { jobKey: Buffer; proof: Buffer } | undefined {
  const parts = text.split(' ');
  if (parts.length !== 2 || !parts.every((part) => BASE64_32_BYTES.test(part))) return undefined;
  const [jobKey, proof] = parts.map((part) => Buffer.from(part, 'base64')) as [Buffer, Buffer];
  if (jobKey.length !== KEY_BYTES || proof.length !== KEY_BYTES) return undefined;
  return { jobKey, proof };
}
