import type { IncomingMessage } from 'node:http';
import { BrokerError } from '../errors.js';

/**
 * The request body as UTF-8 text, read straight from Node's request (no web-stream Request on the hot path),
 * refusing more than `maxBytes`: at once when Content-Length says so, else as soon as the chunks pass it, so a
 * chunked flood is never buffered. Rejects with `tooLarge()` then.
 */
export function readBodyText(
  incoming: IncomingMessage,
  maxBytes: number,
  tooLarge: () => BrokerError,
): Promise<string> {
  const declared = incoming.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge());

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        // Stop reading; Node discards the rest once the 413 response is sent.
        incoming.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new BrokerError('invalid_request', `the request body could not be read: ${error.message}`));
    };
    // 'close' before 'end': the client went away mid-body (or the request timed out).
    const onClose = () => onError(new Error('the client closed the connection'));
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}
