/**
 * HTTP requests whose every read is bounded in time and bytes, to the last byte: what the broker fetches from
 * issuers, what the action and secrets-fetch read from the broker and the runner, what the admin CLI reads.
 * Built on node:http(s), which cost a CI job's cold start nothing to load; each is loaded the first time a URL
 * of its scheme is fetched (node:https brings TLS, about a third of a short job's start-up CPU).
 */
import { CodedError } from './coded-error.js';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { printable } from './printable.js';
import { quoted } from './quoted.js';

export interface BoundedRequestOptions {
  /** What is fetched, for messages: "the JWKS" gives "the JWKS at https://… answered HTTP 500". */
  readonly what: string;
  /** One deadline for the whole request: DNS, connect, TLS, sending, response headers and every body byte. */
  readonly timeoutMs: number;
  /** The body is refused (and the connection dropped) as soon as it is known to be larger. */
  readonly maxBytes: number;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** A reason to refuse the response from its status and headers, before any body byte is read. */
  readonly refuse?: (response: IncomingMessage, subject: string) => BoundedRequestError | undefined;
}

export interface BoundedGetJsonOptions extends BoundedRequestOptions {
  /** Sent as Accept (default application/json); the answer must be JSON whatever it says. */
  readonly accept?: string;
}

export interface BoundedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export type BoundedRequestFailure =
  'deadline' | 'too_large' | 'status' | 'content_type' | 'not_json' | 'encoding' | 'network';

/** Why a bounded request failed; `message` says what, at which URL, and never quotes the body. */
export class BoundedRequestError extends CodedError {
  readonly code: string = 'request_failed';
  override name = 'BoundedRequestError';
  constructor(
    readonly reason: BoundedRequestFailure,
    message: string,
    /** The system error code of a network failure (ECONNREFUSED, ...). */
    readonly systemCode?: string,
    /** The HTTP status of a refused answer. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * GET `target` and return its body, a JSON object, never spending more than `timeoutMs` nor holding more than
 * `maxBytes`. Only a 2xx answer with a JSON media type (application/json or application/*+json) and no content
 * encoding is read; redirects are refused.
 */
export async function boundedGetJson(
  target: string,
  options: BoundedGetJsonOptions,
): Promise<Record<string, unknown>> {
  const response = await boundedRequest(target, {
    ...options,
    method: 'GET',
    headers: { ...options.headers, accept: options.accept ?? 'application/json' },
    refuse: refuseStatusOrType,
  });
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder().decode(response.body));
  } catch {
    document = undefined;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw new BoundedRequestError('not_json', `${options.what} at ${printable(target)} is not a JSON object`);
  return document as Record<string, unknown>;
}

/** application/json, or a structured `+json` type such as application/jwk-set+json (RFC 6839). */
function isJsonMediaType(mediaType: string): boolean {
  return mediaType === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(mediaType);
}

/**
 * Sends one request and returns the answer (any status but a redirect), never spending more than `timeoutMs`
 * nor holding more than `maxBytes`. A content encoding is refused: none is asked for, so the size read is the
 * size of the body.
 *
 * The deadline is an ordinary timer this function holds and clears. (`AbortSignal.timeout()` is not used:
 * Node's timer holds that signal only weakly, so once a garbage collection frees the signal nothing aborts a
 * body that is still trickling in.) When the deadline passes or the body grows too large, the request and the
 * response are destroyed together, so the socket is closed and the issuer can send nothing more. (Destroyed
 * directly rather than through an AbortSignal, whose stream plumbing costs a short-lived client's cold start.)
 */
export function boundedRequest(target: string, options: BoundedRequestOptions): Promise<BoundedResponse> {
  const subject = `${options.what} at ${printable(target)}`;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.reject(new BoundedRequestError('network', `${subject} is not a valid URL`));
  }
  const send = requestFunctionFor(url.protocol);
  if (send === undefined) {
    return Promise.reject(new BoundedRequestError('network', `${subject} is not an http(s) URL`));
  }

  return new Promise<BoundedResponse>((resolve, reject) => {
    let request: ClientRequest | undefined;
    let response: IncomingMessage | undefined;
    let settled = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const settle = (error: BoundedRequestError | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (error === undefined) {
        resolve({ status, headers, body: body as Buffer });
        return;
      }
      response?.destroy();
      request?.destroy();
      reject(error);
    };
    const deadline = setTimeout(
      () =>
        settle(
          new BoundedRequestError(
            'deadline',
            `${subject} did not arrive within the ${options.timeoutMs} ms deadline, which covers connecting, the response headers and the whole body`,
          ),
        ),
      options.timeoutMs,
    );

    try {
      // A fresh connection per document (no pooled socket outlives a failure); Accept-Encoding is not sent, so
      // the body arrives as is and its size is the size read.
      const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
      request = send(url, {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...options.headers,
          ...(body === undefined ? {} : { 'content-length': String(body.length) }),
        },
      });
      if (body !== undefined) request.write(body);
    } catch (error) {
      settle(networkError(subject, error));
      return;
    }
    request.on('error', (error) => settle(networkError(subject, error)));
    request.on('response', (answer) => {
      response = answer;
      // Any error after the teardown (the destroyed socket) is already accounted for.
      response.on('error', (error) => settle(networkError(subject, error)));
      status = response.statusCode ?? 0;
      headers = response.headers;
      const refusal =
        refuseHeaders(response, subject, options.maxBytes) ?? options.refuse?.(response, subject);
      if (refusal !== undefined) {
        settle(refusal);
        return;
      }
      readBody(response, subject, options.maxBytes, settle);
    });
    request.end();
  });
}

type RequestFunction = (url: URL, options: RequestOptions) => ClientRequest;

function requestFunctionFor(protocol: string): RequestFunction | undefined {
  if (protocol === 'https:') return process.getBuiltinModule('node:https').request;
  if (protocol === 'http:') return process.getBuiltinModule('node:http').request;
  return undefined;
}

/** What no caller reads: redirects, encoded bodies, and bodies declared larger than the limit. */
function refuseHeaders(
  response: IncomingMessage,
  subject: string,
  maxBytes: number,
): BoundedRequestError | undefined {
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    const location = quoted(response.headers.location);
    return new BoundedRequestError(
      'status',
      `${subject} answered HTTP ${status}, a redirect to ${location}; redirects are not followed`,
    );
  }
  const encoding = response.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return new BoundedRequestError(
      'encoding',
      `${subject} is sent with content-encoding ${quoted(encoding)}, which the broker did not ask for`,
    );
  }
  const declared = response.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return new BoundedRequestError(
      'too_large',
      `${subject} declares ${declared} bytes (Content-Length); the limit is ${maxBytes} bytes`,
    );
  }
  return undefined;
}

/** A GET reads only a 2xx answer of a JSON media type. */
function refuseStatusOrType(response: IncomingMessage, subject: string): BoundedRequestError | undefined {
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    return new BoundedRequestError('status', `${subject} answered HTTP ${status}`, undefined, status);
  }
  const contentType = response.headers['content-type'];
  const mediaType = (contentType ?? '').replace(/;.*$/s, '').trim().toLowerCase();
  if (!isJsonMediaType(mediaType)) {
    return new BoundedRequestError(
      'content_type',
      `${subject} has content-type ${quoted(contentType)}; expected JSON (application/json or application/*+json)`,
    );
  }
  return undefined;
}

/** Counts bytes as they arrive and stops the moment the total passes `maxBytes`: never holds more. */
function readBody(
  response: IncomingMessage,
  subject: string,
  maxBytes: number,
  settle: (error: BoundedRequestError | undefined, body?: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      settle(new BoundedRequestError('too_large', `${subject} is larger than ${maxBytes} bytes, the limit`));
      return;
    }
    chunks.push(chunk);
  });
  response.on('end', () => settle(undefined, Buffer.concat(chunks, size)));
  response.on('close', () => {
    if (!response.complete) {
      settle(
        new BoundedRequestError(
          'network',
          `${subject} was cut off: the connection closed before the body ended`,
        ),
      );
    }
  });
}

function networkError(subject: string, error: unknown): BoundedRequestError {
  const code = (error as { code?: unknown }).code;
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  return new BoundedRequestError(
    'network',
    `fetching ${subject} failed: ${printable(detail)}`,
    typeof code === 'string' ? code : undefined,
  );
}
