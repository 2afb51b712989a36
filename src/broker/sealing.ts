import { CodedError } from '../protocol/coded-error.js';
import sodium from 'sodium-native';
import { encodeSealedPayload, type SealedPayload } from '../protocol/wire-shapes.js';

export class RecipientKeyError extends CodedError {
  readonly code: string = 'recipient_key_invalid';
  override name = 'RecipientKeyError';
}

/** crypto_box_seal of `plaintext` to the recipient's X25519 key. */
export function sealBytes(plaintext: Buffer, recipient: Buffer): Buffer {
  const sealed = Buffer.alloc(plaintext.length + sodium.crypto_box_SEALBYTES);
  try {
    sodium.crypto_box_seal(sealed, plaintext, recipient);
  } catch {
    // libsodium refuses small-order points (an all-zero key, for one).
    throw new RecipientKeyError('the recipient is not a usable X25519 public key');
  }
  return sealed;
}

/** crypto_box_seal of the payload JSON to the recipient's X25519 key; the plaintext bytes are wiped after. */
export function sealPayload(payload: SealedPayload, recipient: Buffer): Buffer {
  const encoded = encodeSealedPayload(payload);
  const plaintext = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  try {
    return sealBytes(plaintext, recipient);
  } finally {
    sodium.sodium_memzero(plaintext);
  }
}
