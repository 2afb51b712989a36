import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  boundedGetJson,
  boundedRequest,
  BoundedRequestError,
  type BoundedResponse,
} from '../protocol/bounded-request.js';
import { parseRequestedEntry, secretNameProblem, type RequestedEntry } from '../protocol/secret-names.js';
import {
  EXCHANGE_PATH,
  parseExchangeResponse,
  parseProblem,
  type ExchangeResponse,
  type Problem,
} from '../protocol/wire-shapes.js';
import { backoffDelayMs, retryAfterMs } from './backoff.js';
import { normalBrokerUrl } from './broker-url.js';
import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
  TokenRequestError,
  TokensUsedUpError,
} from './errors.js';
import {
  encodeRecipient,
  newRecipientKeyPair,
  openSealedPayload,
  wipeKeyPair,
  type RecipientKeyPair,
} from './sealed-box.js';

export interface ReleasedSecret {
  readonly name: string;
  readonly version: number;
  readonly value: string;
}

export interface RetryNotice {
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

export interface FetchSecretsOptions {
  readonly brokerUrl: string;
  /** Request entries: names, patterns, "?" for optional (already validated or validated here). */
  readonly entries: readonly string[];
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

export interface FetchSecretsResult {
  readonly requestId: string;
  readonly secrets: readonly ReleasedSecret[];
}

/**
 * The largest exchange answer read. Far above any real one (a pattern's hundreds of secrets of tens of KiB
 * each), and still a bound: a broker, or whatever answers in its place, cannot make the job read without end.
 */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

type AttemptOutcome =
  | { readonly kind: 'done'; readonly response: ExchangeResponse }
  | {
      readonly kind: 'retry';
      readonly reason: string;
      readonly retryAfterMs?: number;
      readonly problem?: BrokerProblemError;
    };

/**
 * Exchanges OIDC tokens for sealed secrets: one fresh key pair per call, a fresh token per attempt, retries
 * with full-jitter backoff on network errors, 429 (honouring Retry-After) and 5xx only, within one deadline.
 * Every box is opened and checked against its entry and the request before anything is returned.
 */
export async function fetchSecrets(options: FetchSecretsOptions): Promise<FetchSecretsResult> {
  const entries = options.entries.map(parseRequestedEntry);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  const deadline = now() + options.timeoutMs;
  const brokerUrl = normalBrokerUrl(options.brokerUrl);
  const keyPair = await newRecipientKeyPair();
  try {
    const started = now();
    let last: AttemptOutcome | undefined;
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
        last = await attemptExchange(brokerUrl, token, keyPair, entries, remaining, now);
      } catch (error) {
        if (error instanceof BrokerProblemError && error.code === 'invalid_token')
          throw await withAudienceCheck(error, brokerUrl, token, deadline - now());
        throw error;
      }
      if (last.kind === 'done')
        return {
          requestId: last.response.request_id,
          secrets: openAndCheck(last.response, entries, keyPair),
        };
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
  } finally {
    wipeKeyPair(keyPair);
  }
}

const INFO_PATH = '/v1/info';
/** The longest wait for the broker's /v1/info when telling a refused token's audience from the broker's. */
const INFO_TIMEOUT_MS = 5_000;

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
    expected = (
      await boundedGetJson(`${brokerUrl}${INFO_PATH}`, {
        what: "the broker's info",
        timeoutMs: Math.min(remainingMs, INFO_TIMEOUT_MS),
        maxBytes: 64 * 1024,
      })
    ).audience;
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

async function attemptExchange(
  brokerUrl: string,
  token: string,
  keyPair: RecipientKeyPair,
  entries: readonly RequestedEntry[],
  remainingMs: number,
  now: () => number,
): Promise<AttemptOutcome> {
  let response: BoundedResponse;
  try {
    response = await boundedRequest(`${brokerUrl}${EXCHANGE_PATH}`, {
      what: 'the exchange',
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify({
        recipient: encodeRecipient(keyPair),
        secrets: entries.map((entry) => entry.raw),
      }),
      timeoutMs: remainingMs,
      maxBytes: MAX_RESPONSE_BYTES,
    });
  } catch (error) {
    if (!(error instanceof BoundedRequestError)) throw error;
    if (error.reason === 'network') return { kind: 'retry', reason: error.systemCode ?? error.message };
    if (error.reason === 'deadline') return { kind: 'retry', reason: 'no answer in the time left' };
    throw new ResponseIntegrityError(error.message);
  }
  const text = response.body.toString('utf8');
  if (response.status === 200) {
    const parsed = parseExchangeResponse(safeJson(text));
    if (parsed === undefined)
      throw new ResponseIntegrityError(
        'the broker answered 200 with a body that is not an exchange response',
      );
    return { kind: 'done', response: parsed };
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

/** Opens every box and checks it against its entry and against what was asked for. */
function openAndCheck(
  response: ExchangeResponse,
  entries: readonly RequestedEntry[],
  keyPair: RecipientKeyPair,
): ReleasedSecret[] {
  const exact = new Set(entries.filter((entry) => !entry.isPattern).map((entry) => entry.target));
  const patterns = entries.filter((entry) => entry.isPattern).map((entry) => entry.glob);
  const seen = new Set<string>();
  const secrets = response.secrets.map((entry) => {
    // Checked before the name is used or shown anywhere: a valid name holds no control character.
    if (secretNameProblem(entry.name) !== undefined)
      throw new ResponseIntegrityError(
        'the broker returned a secret under a name that is not a valid secret name',
      );
    if (seen.has(entry.name)) throw new ResponseIntegrityError(`the broker returned "${entry.name}" twice`);
    seen.add(entry.name);
    if (!exact.has(entry.name) && !patterns.some((pattern) => pattern.test(entry.name))) {
      throw new ResponseIntegrityError(`the broker returned "${entry.name}", which was not requested`);
    }
    const payload = openSealedPayload(entry.sealed, keyPair);
    if (payload.name !== entry.name || payload.version !== entry.version) {
      throw new ResponseIntegrityError(
        `the box listed as "${entry.name}" version ${entry.version} holds "${payload.name}" version ${payload.version}; boxes were swapped or altered`,
      );
    }
    return { name: payload.name, version: payload.version, value: payload.value };
  });
  const missing = entries.filter((entry) => !entry.isPattern && !entry.optional && !seen.has(entry.target));
  if (missing.length > 0) {
    throw new ResponseIntegrityError(
      `the broker's answer lacks ${missing.map((entry) => `"${entry.target}"`).join(', ')}`,
    );
  }
  return secrets;
}
