import { CodedError } from '../protocol/coded-error.js';
import sodium from 'sodium-native';
import { encodeSealedPayload, type SealedPayload } from '../protocol/wire.js';

export class RecipientKeyError extends CodedError {
  readonly code: string = 'recipient_key_invalid';
  override name = 'RecipientKeyError';
}

/** crypto_box_seal of the payload JSON to the recipient's X25519 key; the plaintext buffer is wiped after. */
export function sealPayload(payload: SealedPayload, recipient: Buffer): Buffer {
  const plaintext = Buffer.from(encodeSealedPayload(payload));
  const sealed = Buffer.alloc(plaintext.length + sodium.crypto_box_SEALBYTES);
  try {
    sodium.crypto_box_seal(sealed, plaintext, recipient);
  } catch {
    // libsodium refuses small-order points (an all-zero key, for one).
    throw new RecipientKeyError('the recipient is not a usable X25519 public key');
  } finally {
    sodium.sodium_memzero(plaintext);
  }
  return sealed;
}
