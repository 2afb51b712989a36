import { CodedError } from '../../protocol/coded-error.js';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** One secret version as stored: the value sealed under a fresh data key, the data key wrapped by a KEK. */
export interface EncryptedValue {
  readonly keyId: string;
  /** nonce (12) || AES-256-GCM(data key) || tag (16) */
  readonly wrappedKey: Buffer;
  readonly nonce: Buffer;
  /** AES-256-GCM(value) || tag (16) */
  readonly ciphertext: Buffer;
}

export class DecryptionError extends CodedError {
  readonly code: string = 'decryption_failed';
  override name = 'DecryptionError';
}

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Binds a ciphertext to its row: moving it to another name, version or key id makes decryption fail. */
function associatedData(name: string, version: number, keyId: string): Buffer {
  return Buffer.from(`secrets-broker/v1\0${name}\0${version}\0${keyId}`, 'utf8');
}

function seal(key: Buffer, nonce: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < TAG_BYTES) throw new DecryptionError('ciphertext is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionError('authentication failed');
  }
}

export function encryptValue(
  value: Buffer,
  name: string,
  version: number,
  keyId: string,
  wrappingKey: Buffer,
): EncryptedValue {
  const aad = associatedData(name, version, keyId);
  const dataKey = randomBytes(32);
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = seal(dataKey, nonce, value, aad);
  const wrapNonce = randomBytes(NONCE_BYTES);
  const wrappedKey = Buffer.concat([wrapNonce, seal(wrappingKey, wrapNonce, dataKey, aad)]);
  dataKey.fill(0);
  return { keyId, wrappedKey, nonce, ciphertext };
}

export function decryptValue(
  encrypted: EncryptedValue,
  name: string,
  version: number,
  wrappingKey: Buffer,
): Buffer {
  const aad = associatedData(name, version, encrypted.keyId);
  const wrapNonce = encrypted.wrappedKey.subarray(0, NONCE_BYTES);
  const dataKey = open(wrappingKey, wrapNonce, encrypted.wrappedKey.subarray(NONCE_BYTES), aad);
  try {
    return open(dataKey, encrypted.nonce, encrypted.ciphertext, aad);
  } finally {
    dataKey.fill(0);
  }
}
