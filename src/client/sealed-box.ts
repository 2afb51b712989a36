import { CodedError } from '../protocol/coded-error.js';
import sodium from 'libsodium-wrappers';
import { sealedPayloadSchema, type SealedPayload } from '../protocol/wire.js';

/** A fresh X25519 key pair for one run. Pure JavaScript/WebAssembly, so the action bundle has no native code. */
export interface RecipientKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

export class SealedBoxError extends CodedError {
  readonly code: string = 'sealed_box_invalid';
  override name = 'SealedBoxError';
}

export async function newRecipientKeyPair(): Promise<RecipientKeyPair> {
  await sodium.ready;
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { publicKey, privateKey };
}

export function encodeRecipient(keyPair: RecipientKeyPair): string {
  return Buffer.from(keyPair.publicKey).toString('base64');
}

/** Opens one sealed box and checks its JSON payload's shape. */
export function openSealedPayload(sealed: string, keyPair: RecipientKeyPair): SealedPayload {
  let plaintext: Uint8Array;
  try {
    plaintext = sodium.crypto_box_seal_open(
      Buffer.from(sealed, 'base64'),
      keyPair.publicKey,
      keyPair.privateKey,
    );
  } catch {
    throw new SealedBoxError(
      "a sealed box does not open with this run's key (it was sealed to another key or altered)",
    );
  }
  try {
    return sealedPayloadSchema.parse(JSON.parse(Buffer.from(plaintext).toString('utf8')));
  } catch {
    throw new SealedBoxError('a sealed box opened but does not hold {"name","version","value"}');
  } finally {
    sodium.memzero(plaintext);
  }
}

export function wipeKeyPair(keyPair: RecipientKeyPair): void {
  sodium.memzero(keyPair.privateKey);
}
