import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { printable } from '../../protocol/printable.js';

export interface BoundedGetOptions {
  /** What is fetched, for messages: "the JWKS" gives "the JWKS at https://… answered HTTP 500". */
  readonly what: string;
  /** One deadline for the whole request: DNS, connect, TLS, response headers and every body byte. */
  readonly timeoutMs: number;
  /** The body is refused (and the connection dropped) as soon as it is known to be larger. */
  readonly maxBytes: number;
  /** Sent as Accept. */
  readonly accept: string;
  /** Whether the response's media type (lower case, parameters removed) is acceptable. */
  readonly acceptsMediaType: (mediaType: string) => boolean;
  /** The accepted media types in words, for the refusal message. */
  readonly expectedMediaTypes: string;
}

/** Why a bounded GET failed; `message` says what, at which URL, and never quotes the body. */
export class BoundedGetError extends Error {
  override name = 'BoundedGetError';
  constructor(
    readonly reason: 'deadline' | 'too_large' | 'status' | 'content_type' | 'encoding' | 'network',
    message: string,
  ) {
    super(message);
  }
}

const MAX_QUOTED_HEADER = 100;

/**
 * GET `target` and return its body, never spending more than `timeoutMs` nor holding more than `maxBytes`.
 * Only a 2xx answer with an accepted media type and no content encoding is read; redirects are refused.
 *
 * The deadline is an ordinary timer this function holds and clears. (`AbortSignal.timeout()` is not used:
 * Node's timer holds that signal only weakly, so once a garbage collection frees the signal nothing aborts a
 * body that is still trickling in.) When the deadline passes or the body grows too large, one AbortController
 * tears down the request and the response together, so the socket is destroyed and the issuer can send
 * nothing more.
 */
export function boundedGet(target: string, options: BoundedGetOptions): Promise<Buffer> {
  const subject = `${options.what} at ${printable(target)}`;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.reject(new BoundedGetError('network', `${subject} is not a valid URL`));
  }
  const send = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
  if (send === undefined) {
    return Promise.reject(new BoundedGetError('network', `${subject} is not an http(s) URL`));
  }

  return new Promise<Buffer>((resolve, reject) => {
    const abort = new AbortController();
    let settled = false;
    const settle = (error: BoundedGetError | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error === undefined) {
        resolve(body as Buffer);
        return;
      }
      abort.abort(error);
      reject(error);
    };
    const deadline = setTimeout(
      () =>
        settle(
          new BoundedGetError(
            'deadline',
            `${subject} did not arrive within the ${options.timeoutMs} ms deadline, which covers connecting, the response headers and the whole body`,
          ),
        ),
      options.timeoutMs,
    );

    let request: ClientRequest;
    try {
      // A fresh connection per document (no pooled socket outlives a failure); Accept-Encoding is not sent, so
      // the body arrives as is and its size is the size read.
      request = send(url, {
        method: 'GET',
        agent: false,
        headers: { accept: options.accept },
        signal: abort.signal,
      });
    } catch (error) {
      settle(networkError(subject, error));
      return;
    }
    request.on('error', (error) => settle(networkError(subject, error)));
    request.on('response', (response) => {
      abort.signal.addEventListener('abort', () => response.destroy(), { once: true });
      // Any error after abort (the destroyed socket) is already accounted for.
      response.on('error', (error) => settle(networkError(subject, error)));
      const refusal = refuseHeaders(response, subject, options);
      if (refusal !== undefined) {
        settle(refusal);
        return;
      }
      readBody(response, subject, options.maxBytes, settle);
    });
    request.end();
  });
}

function refuseHeaders(
  response: IncomingMessage,
  subject: string,
  options: BoundedGetOptions,
): BoundedGetError | undefined {
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    const location = quoteHeader(response.headers.location);
    return new BoundedGetError(
      'status',
      `${subject} answered HTTP ${status}, a redirect to ${location}; redirects are not followed`,
    );
  }
  if (status < 200 || status >= 300) {
    return new BoundedGetError('status', `${subject} answered HTTP ${status}`);
  }

  const contentType = response.headers['content-type'];
  const mediaType = (contentType ?? '').replace(/;.*$/s, '').trim().toLowerCase();
  if (!options.acceptsMediaType(mediaType)) {
    return new BoundedGetError(
      'content_type',
      `${subject} has content-type ${quoteHeader(contentType)}; expected ${options.expectedMediaTypes}`,
    );
  }
  const encoding = response.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return new BoundedGetError(
      'encoding',
      `${subject} is sent with content-encoding ${quoteHeader(encoding)}, which the broker did not ask for`,
    );
  }
  const declared = response.headers['content-length'];
  if (declared !== undefined && Number(declared) > options.maxBytes) {
    return new BoundedGetError(
      'too_large',
      `${subject} declares ${declared} bytes (Content-Length); the limit is ${options.maxBytes} bytes`,
    );
  }
  return undefined;
}

/** Counts bytes as they arrive and stops the moment the total passes `maxBytes`: never holds more. */
function readBody(
  response: IncomingMessage,
  subject: string,
  maxBytes: number,
  settle: (error: BoundedGetError | undefined, body?: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      settle(new BoundedGetError('too_large', `${subject} is larger than ${maxBytes} bytes, the limit`));
      return;
    }
    chunks.push(chunk);
  });
  response.on('end', () => settle(undefined, Buffer.concat(chunks, size)));
  response.on('close', () => {
    if (!response.complete) {
      settle(
        new BoundedGetError('network', `${subject} was cut off: the connection closed before the body ended`),
      );
    }
  });
}

function networkError(subject: string, error: unknown): BoundedGetError {
  const code = (error as { code?: unknown }).code;
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  return new BoundedGetError('network', `fetching ${subject} failed: ${printable(detail)}`);
}

function quoteHeader(value: string | undefined): string {
  if (value === undefined) return 'none';
  const shown = value.length > MAX_QUOTED_HEADER ? `${value.slice(0, MAX_QUOTED_HEADER)}…` : value;
  return printable(JSON.stringify(shown));
}
