/**
 * A worker thread (see sealing-thread.ts): seals one exchange's payloads to its recipient and wipes them. The
 * payloads arrive as one transferred buffer, so no copy of them stays behind in the thread that sent them.
 */
import { parentPort } from 'node:worker_threads';
import sodium from 'sodium-native';
import { RecipientKeyError, sealBytes } from './sealing.js';

export interface SealRequest {
  readonly id: number;
  readonly recipient: Uint8Array;
  /** The encoded payloads one after the other. */
  readonly plaintext: ArrayBuffer;
  readonly lengths: readonly number[];
}

/** The boxes in base64, in the payloads' order; or why there are none. */
export type SealAnswer =
  | { readonly id: number; readonly sealed: readonly string[] }
  | { readonly id: number; readonly refused: 'recipient' | 'failed' };

const port = parentPort as NonNullable<typeof parentPort>;

port.on('message', ({ id, recipient, plaintext, lengths }: SealRequest) => {
  const all = Buffer.from(plaintext);
  const key = Buffer.from(recipient.buffer, recipient.byteOffset, recipient.byteLength);
  let answer: SealAnswer;
  try {
    let offset = 0;
    const sealed = lengths.map((length) => {
      const box = sealBytes(all.subarray(offset, offset + length), key);
      offset += length;
      return box.toString('base64');
    });
    answer = { id, sealed };
  } catch (error) {
    answer = { id, refused: error instanceof RecipientKeyError ? 'recipient' : 'failed' };
  } finally {
    sodium.sodium_memzero(all);
  }
  port.postMessage(answer);
});
