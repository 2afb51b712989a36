import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { BrokerError } from '../errors.js';
import { nodeRequestOf, type BrokerEnv } from './request-context.js';

/**
 * The request body as UTF-8 text, refusing more than `maxBytes`: at once when Content-Length says so, else as
 * soon as the bytes read pass it, so a chunked flood is never buffered. Rejects with `tooLarge()` then. Read
 * straight from Node's request when there is one (no web stream on the hot path), else from the web Request
 * (`app.request()`, other runtimes) with the same limit.
 */
export function readRequestBody(
  c: Context<BrokerEnv>,
  maxBytes: number,
  tooLarge: () => BrokerError,
): Promise<string> {
  const incoming = nodeRequestOf(c);
  if (incoming !== undefined) return readBodyText(incoming, maxBytes, tooLarge);
  if (declaresMoreThan(c.req.header('content-length'), maxBytes)) return Promise.reject(tooLarge());
  return readWebBody(c.req.raw.body, maxBytes, tooLarge);
}

function declaresMoreThan(contentLength: string | string[] | undefined, maxBytes: number): boolean {
  return contentLength !== undefined && Number(contentLength) > maxBytes;
}

function unreadable(reason: string): BrokerError {
  return new BrokerError('invalid_request', `the request body could not be read: ${reason}`);
}

/** `readRequestBody` on Node's request. */
export function readBodyText(
  incoming: IncomingMessage,
  maxBytes: number,
  tooLarge: () => BrokerError,
): Promise<string> {
  if (declaresMoreThan(incoming.headers['content-length'], maxBytes)) return Promise.reject(tooLarge());

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
      reject(unreadable(error.message));
    };
    // 'close' before 'end': the client went away mid-body (or the request timed out).
    const onClose = () => onError(new Error('the client closed the connection'));
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/** `readRequestBody` on a web Request's body stream: read chunk by chunk, cancelled once past the limit. */
async function readWebBody(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  tooLarge: () => BrokerError,
): Promise<string> {
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const chunk = await reader.read().catch((error: unknown) => {
      throw unreadable(error instanceof Error ? error.message : String(error));
    });
    if (chunk.done) return Buffer.concat(chunks, size).toString('utf8');
    size += chunk.value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
}
