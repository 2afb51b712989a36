/** Local reads that stop at a size: a path or a pipe may be endless (/dev/zero, a stuck producer). */
import { CodedError } from './coded-error.js';
import { open } from 'node:fs/promises';

export class TooLargeError extends CodedError {
  readonly code: string = 'file_too_large';
  override name = 'TooLargeError';
}

/** Reads at most `maxBytes` of the file at `path`; throws TooLargeError when it holds more. */
export async function readFileAtMost(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let size = 0;
    while (size < buffer.length) {
      const { bytesRead } = await handle.read(buffer, size, buffer.length - size, null);
      if (bytesRead === 0) break;
      size += bytesRead;
    }
    if (size > maxBytes) throw new TooLargeError(`${what} is larger than ${maxBytes} bytes, the limit`);
    return buffer.subarray(0, size);
  } finally {
    await handle.close();
  }
}

/** Reads a stream to its end, or throws TooLargeError as soon as it has passed `maxBytes`. */
export async function readStreamAtMost(
  stream: AsyncIterable<Buffer | string>,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += bytes.length;
    if (size > maxBytes) throw new TooLargeError(`${what} is larger than ${maxBytes} bytes, the limit`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, size);
}
