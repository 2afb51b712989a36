import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  boundedGetJson,
  boundedRequest,
  BoundedRequestError,
  type BoundedResponse,
} from '../protocol/bounded-request.js';
import { parseProblem, type Problem } from '../protocol/wire-shapes.js';
import { backoffDelayMs, retryAfterMs } from './backoff.js';
import { normalBrokerUrl } from './broker-url.js';
import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
  TokenRequestError,
  TokensUsedUpError,
} from './errors.js';

export interface RetryNotice {
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** How a client call to the broker is made: where, with which tokens, how long and how often. */
export interface BrokerCallOptions {
  readonly brokerUrl: string;
  /**
   * Called once per attempt: OIDC tokens are single-use, so every retry needs a fresh one. Told the time left
   * before the deadline; whether or not it keeps to it, its answer is waited for that long and no longer.
   */
  readonly getToken: (remainingMs: number) => Promise<string>;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly onRetry?: (notice: RetryNotice) => void;
  readonly random?: () => number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<unknown>;
}

/** One kind of POST to the broker with an ID token: its path, its body and the shape of its 200 answer. */
export interface BrokerCall<T> {
  readonly path: string;
  /** For messages: "the exchange", "the list". */
  readonly what: string;
  readonly body: string;
  readonly maxResponseBytes: number;
  /** The 200 answer's JSON as T, or undefined when it is not exactly that shape. */
  readonly parse: (json: unknown) => T | undefined;
  /** What a 200 answer must be, for the message that refuses one that is not: "an exchange response". */
  readonly shape: string;
}

type AttemptOutcome<T> =
  | { readonly kind: 'done'; readonly answer: T }
  | {
      readonly kind: 'retry';
      readonly reason: string;
      readonly retryAfterMs?: number;
      readonly problem?: BrokerProblemError;
    };

/**
 * POSTs `call` with a fresh token per attempt, retrying with full-jitter backoff on network errors, 429
 * (honouring Retry-After) and 5xx only, all within one deadline; returns the 200 answer, parsed.
 */
export async function callBroker<T>(options: BrokerCallOptions, call: BrokerCall<T>): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  const deadline = now() + options.timeoutMs;
  const brokerUrl = normalBrokerUrl(options.brokerUrl);
  const started = now();
  let last: AttemptOutcome<T> | undefined;
  let attempts = 0;
  /** Why no further attempt was made, when it was not the retries or the time running out. */
  let stoppedBy: Error | undefined;
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    let token: string;
    try {
      token = await requestToken(options.getToken, remaining);
    } catch (error) {
      // Before the first attempt the token is the whole story; after a failed one, the broker's failure is.
      if (last === undefined || !(error instanceof Error)) throw error;
      stoppedBy = error;
      break;
    }
    attempts += 1;
    try {
      last = await attemptCall(brokerUrl, token, call, remaining, now);
    } catch (error) {
      if (error instanceof BrokerProblemError && error.code === 'invalid_token')
        throw await withAudienceCheck(error, brokerUrl, token, deadline - now());
      throw error;
    }
    if (last.kind === 'done') return last.answer;
    if (attempt === options.retries) break;
    const delayMs = last.retryAfterMs ?? backoffDelayMs(attempt, random);
    if (now() + delayMs >= deadline) break;
    options.onRetry?.({ attempt: attempt + 1, delayMs, reason: last.reason });
    await sleep(delayMs);
  }
  const elapsed = ((now() - started) / 1000).toFixed(1);
  const gaveUp =
    `gave up after ${attempts} attempt(s) in ${elapsed} s` +
    (stoppedBy === undefined
      ? ` (retries: ${options.retries}, timeout-seconds: ${Math.round(options.timeoutMs / 1000)})`
      : `: ${stoppedBy.message}`);
  // A problem document from the last attempt says more than a count of attempts.
  if (last?.kind === 'retry' && last.problem !== undefined)
    throw new BrokerProblemError(last.problem.status, last.problem.problem, gaveUp);
  throw new BrokerUnreachableError(
    `cannot get an answer from the broker at ${brokerUrl} (${last?.kind === 'retry' ? last.reason : 'no time left'}); ${gaveUp}`,
  );
}

const INFO_PATH = '/v1/info';
/** The longest wait for one answer of the broker's /v1/info. */
const INFO_TIMEOUT_MS = 5_000;
/** /v1/info is a few hundred bytes; whatever answers in the broker's place cannot make the client read more. */
const INFO_MAX_BYTES = 64 * 1024;

/** The broker's /v1/info (no token), one bounded GET of at most `remainingMs` (and INFO_TIMEOUT_MS). */
export function getBrokerInfo(brokerUrl: string, remainingMs: number): Promise<Record<string, unknown>> {
  return boundedGetJson(`${normalBrokerUrl(brokerUrl)}${INFO_PATH}`, {
    what: "the broker's info",
    timeoutMs: Math.min(remainingMs, INFO_TIMEOUT_MS),
    maxBytes: INFO_MAX_BYTES,
  });
}

/**
 * An `invalid_token` answer, with the audience the token was issued for and the one the broker expects when
 * they differ, so the message can name the setting to change. Best effort: the broker's own answer stands
 * alone when /v1/info cannot be read or the token's audience cannot be seen.
 */
async function withAudienceCheck(
  error: BrokerProblemError,
  brokerUrl: string,
  token: string,
  remainingMs: number,
): Promise<BrokerProblemError> {
  const sent = unverifiedAudiences(token);
  if (sent === undefined || remainingMs <= 0) return error;
  let expected: unknown;
  try {
    expected = (await getBrokerInfo(brokerUrl, remainingMs)).audience;
  } catch (infoError) {
    if (infoError instanceof BoundedRequestError) return error;
    throw infoError;
  }
  if (typeof expected !== 'string' || sent.includes(expected)) return error;
  return new BrokerProblemError(error.status, error.problem, error.gaveUp, { sent, expected });
}

/** The `aud` of a JWT, read without verifying it (only to explain a refusal), or undefined. */
function unverifiedAudiences(token: string): string[] | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  let aud: unknown;
  try {
    aud = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { aud?: unknown }).aud;
  } catch {
    return undefined;
  }
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((item) => typeof item === 'string')) return aud;
  return undefined;
}

/**
 * A token from the CI provider within the time left: the runner's token endpoint (or whatever stands in for it)
 * may never answer, and timeout-seconds bounds the whole step. The timer is cleared once either side settles.
 */
async function requestToken(
  getToken: (remainingMs: number) => Promise<string>,
  remainingMs: number,
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TokenRequestError(
            'could not get an OIDC ID token: the token request did not answer in time (timeout-seconds covers it too)',
          ),
        ),
      remainingMs,
    );
  });
  try {
    return await Promise.race([getToken(remainingMs), deadline]);
  } catch (error) {
    if (error instanceof TokenRequestError || error instanceof TokensUsedUpError) throw error;
    throw new TokenRequestError(
      `could not get an OIDC ID token: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** One attempt: the POST, and what its answer means (done, worth a retry, or a failure thrown). */
async function attemptCall<T>(
  brokerUrl: string,
  token: string,
  call: BrokerCall<T>,
  remainingMs: number,
  now: () => number,
): Promise<AttemptOutcome<T>> {
  let response: BoundedResponse;
  try {
    response = await boundedRequest(`${brokerUrl}${call.path}`, {
      what: call.what,
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: call.body,
      timeoutMs: remainingMs,
      maxBytes: call.maxResponseBytes,
    });
  } catch (error) {
    if (!(error instanceof BoundedRequestError)) throw error;
    if (error.reason === 'network') return { kind: 'retry', reason: error.systemCode ?? error.message };
    if (error.reason === 'deadline') return { kind: 'retry', reason: 'no answer in the time left' };
    throw new ResponseIntegrityError(error.message);
  }
  const text = response.body.toString('utf8');
  if (response.status === 200) {
    const answer = call.parse(safeJson(text));
    if (answer === undefined)
      throw new ResponseIntegrityError(`the broker answered 200 with a body that is not ${call.shape}`);
    return { kind: 'done', answer };
  }
  const problem = toProblem(response.status, text);
  const error = new BrokerProblemError(response.status, problem);
  if (response.status === 429 || response.status >= 500) {
    const header = response.headers['retry-after'];
    const retryAfter = retryAfterMs(typeof header === 'string' ? header : null, now());
    return {
      kind: 'retry',
      reason: `HTTP ${response.status} ${problem.code}`,
      problem: error,
      ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    };
  }
  throw error;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toProblem(status: number, text: string): Problem {
  const parsed = parseProblem(safeJson(text));
  if (parsed !== undefined) return parsed;
  return {
    title: `HTTP ${status}`,
    status,
    code: `http_${status}`,
    detail: `the broker answered HTTP ${status} without a problem document`,
  };
}
