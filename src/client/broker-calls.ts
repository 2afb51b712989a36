import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  boundedGetJson,
  boundedRequest,
  BoundedRequestError,
  type BoundedResponse,
} from '../protocol/bounded-request.js';
import { parseProblem, parseRunOutputKey, type Problem, type RunOutputKey } from '../protocol/wire-shapes.js';
import {
  audienceSpelling,
  boundDigestIn,
  KEY_BINDING_SEPARATOR,
  KEY_PROOF_HEADER,
} from '../protocol/key-binding.js';
import { keyProofHeader, type KeyBindingChoice } from './key-binding.js';
import type { RecipientKeyPair } from './sealed-box.js';
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
  readonly getToken: (remainingMs: number, bindTo?: Uint8Array) => Promise<string>;
  /**
   * Whether each token is bound to the call's key (docs/threat-model.md "Stolen ID tokens: key binding"):
   * `auto` (the default) whenever getToken can bind.
   */
  readonly keyBinding?: KeyBindingChoice;
  /**
   * What getToken's tokens come from, when it can bind them: it asks the CI provider for each token with an
   * audience of its choosing (the GitHub runner). Undefined: getToken cannot bind.
   */
  readonly bindableTokens?: string;
  /** The broker's /v1/info, read once for the run; by default read for each call that needs it. */
  readonly brokerInfo?: (remainingMs: number) => Promise<Record<string, unknown>>;
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
  /** The key the call's tokens are bound to, when it binds them: the exchange's recipient, a list's or put's own. */
  readonly bindingKey?: RecipientKeyPair;
  /** A call that releases nothing sealed to that key proves it holds it (Secrets-Key-Proof). */
  readonly provesKey?: boolean;
  /** The run-output key already read for this call (a put seals to it): the proof uses it, no second read. */
  readonly runOutputKey?: Uint8Array;
}

/** How a call binds its tokens: to this key, proving it with the broker's run-output key when it must. */
interface Binding {
  readonly keyPair: RecipientKeyPair;
  readonly brokerKey: Uint8Array | undefined;
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
  const binding = await bindingOf(options, call, deadline);
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    let token: string;
    try {
      token = await requestToken(options.getToken, remaining, binding?.keyPair.publicKey);
    } catch (error) {
      // Before the first attempt the token is the whole story; after a failed one, the broker's failure is.
      if (last === undefined || !(error instanceof Error)) throw error;
      stoppedBy = error;
      break;
    }
    attempts += 1;
    try {
      last = await attemptCall(brokerUrl, token, call, remaining, now, proofHeaderOf(binding, call, token));
    } catch (error) {
      if (error instanceof BrokerProblemError && error.code === 'invalid_token')
        throw await withAudienceCheck(error, options, token, deadline - now());
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

/**
 * Whether and how this call binds its tokens: never without a key or with `off`; with `on` always (refused when
 * getToken cannot bind); with `auto` whenever getToken can. /v1/info never turns binding off: it is read without
 * authentication, and a forged one must not make the job send a plain token. A call that must prove its key reads
 * the run-output key (with the call's retries); without one it fails, it never falls back to a plain token.
 */
async function bindingOf(
  options: BrokerCallOptions,
  call: BrokerCall<unknown>,
  deadline: number,
): Promise<Binding | undefined> {
  const choice = options.keyBinding ?? 'auto';
  if (call.bindingKey === undefined || choice === 'off') return undefined;
  if (options.bindableTokens === undefined) {
    if (choice === 'auto') return undefined;
    throw new TokenRequestError(
      'key binding is on, but these tokens cannot be bound: they were minted before this client made its key (GitLab id_tokens, --token-env, --token-file); bind only tokens requested from the GitHub runner, or turn key binding off',
    );
  }
  if (call.provesKey !== true) return { keyPair: call.bindingKey, brokerKey: undefined };
  const brokerKey =
    call.runOutputKey ?? Buffer.from((await runOutputKey(options, deadline)).run_output_key, 'base64');
  return { keyPair: call.bindingKey, brokerKey };
}

function proofHeaderOf(
  binding: Binding | undefined,
  call: BrokerCall<unknown>,
  token: string,
): string | undefined {
  if (binding?.brokerKey === undefined) return undefined;
  return keyProofHeader(binding.keyPair, binding.brokerKey, {
    method: 'POST',
    path: call.path,
    token,
    body: Buffer.from(call.body, 'utf8'),
  });
}

/**
 * /v1/info read once and kept for the rest of the run (the action and secrets-fetch make several calls); a failed
 * read is not kept, so the next call tries again.
 */
export function brokerInfoOnce(brokerUrl: string): (remainingMs: number) => Promise<Record<string, unknown>> {
  let kept: Promise<Record<string, unknown>> | undefined;
  return (remainingMs) => {
    kept ??= getBrokerInfo(brokerUrl, remainingMs).catch((error: unknown) => {
      kept = undefined;
      throw error;
    });
    return kept;
  };
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
  options: BrokerCallOptions,
  token: string,
  remainingMs: number,
): Promise<BrokerProblemError> {
  const claims = unverifiedClaims(token);
  const sent = audiencesOf(claims?.aud);
  if (sent === undefined || remainingMs <= 0) return error;
  let info: Record<string, unknown>;
  try {
    info = await readBrokerInfo(options, remainingMs);
  } catch (infoError) {
    if (infoError instanceof BoundedRequestError) return error;
    throw infoError;
  }
  const expected = expectedAudience(info, typeof claims?.iss === 'string' ? claims.iss : undefined);
  if (expected === undefined || sent.some((item) => namesAudience(item, expected))) return error;
  // A bound audience is shown as the audience it binds: the key digest after it says nothing to a reader.
  const shown = sent.map((item) => item.replace(BOUND_SUFFIX, ''));
  return new BrokerProblemError(error.status, error.problem, error.gaveUp, { sent: shown, expected });
}

/** /v1/info through the run's one read when the caller keeps one (brokerInfoOnce), else a fresh GET. */
function readBrokerInfo(options: BrokerCallOptions, remainingMs: number): Promise<Record<string, unknown>> {
  return (options.brokerInfo ?? ((ms: number) => getBrokerInfo(options.brokerUrl, ms)))(remainingMs);
}

const BOUND_SUFFIX = new RegExp(`${KEY_BINDING_SEPARATOR}[A-Za-z0-9_-]{43}$`);

/** The audience the broker expects of the token's issuer (its own, else the broker's), from /v1/info. */
function expectedAudience(info: Record<string, unknown>, issuerUrl: string | undefined): string | undefined {
  const issuers = Array.isArray(info.issuers) ? (info.issuers as unknown[]) : [];
  const issuer = issuers.find(
    (item): item is { audience: string } =>
      typeof item === 'object' &&
      item !== null &&
      (item as { url?: unknown }).url === issuerUrl &&
      typeof (item as { audience?: unknown }).audience === 'string',
  );
  const audience = issuer?.audience ?? info.audience;
  return typeof audience === 'string' ? audience : undefined;
}

/** Whether an `aud` value is `audience`, plain or bound to a key, in the clients' one spelling. */
function namesAudience(value: string, audience: string): boolean {
  return (
    audienceSpelling(value) === audienceSpelling(audience) || boundDigestIn(value, audience) !== undefined
  );
}

/** The `aud` values of a JWT's claims (a string or a list of strings), or undefined. */
function audiencesOf(aud: unknown): string[] | undefined {
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((item) => typeof item === 'string')) return aud;
  return undefined;
}

/** A JWT's claims, read without verifying them (only to explain a refusal), or undefined. */
function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A token from the CI provider within the time left: the runner's token endpoint (or whatever stands in for it)
 * may never answer, and timeout-seconds bounds the whole step. The timer is cleared once either side settles.
 */
async function requestToken(
  getToken: (remainingMs: number, bindTo?: Uint8Array) => Promise<string>,
  remainingMs: number,
  bindTo: Uint8Array | undefined,
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
    return await Promise.race([
      bindTo === undefined ? getToken(remainingMs) : getToken(remainingMs, bindTo),
      deadline,
    ]);
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
  keyProof: string | undefined,
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
        ...(keyProof === undefined ? {} : { [KEY_PROOF_HEADER]: keyProof }),
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

/**
 * The broker's run-output key from /v1/info, retried as a broker call is (network errors, no answer in time,
 * 5xx) within the same deadline and retries; any other failure, or an answer without a well-formed key, ends it.
 */
export async function runOutputKey(options: BrokerCallOptions, deadline: number): Promise<RunOutputKey> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  let reason = 'no time left';
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    let info: Record<string, unknown>;
    try {
      info = await readBrokerInfo(options, remaining);
    } catch (error) {
      if (!(error instanceof BoundedRequestError) || !worthRetrying(error)) throw error;
      reason = error.message;
      if (attempt === options.retries) break;
      const delayMs = backoffDelayMs(attempt, random);
      if (now() + delayMs >= deadline) break;
      options.onRetry?.({ attempt: attempt + 1, delayMs, reason: error.systemCode ?? error.message });
      await sleep(delayMs);
      continue;
    }
    return keyOf(info, options.brokerUrl);
  }
  throw new BrokerUnreachableError(
    `cannot read the run-output key from ${normalBrokerUrl(options.brokerUrl)}/v1/info: ${reason}`,
  );
}

function worthRetrying(error: BoundedRequestError): boolean {
  return (
    error.reason === 'network' ||
    error.reason === 'deadline' ||
    (error.reason === 'status' && (error.status ?? 0) >= 500)
  );
}

function keyOf(info: Record<string, unknown>, brokerUrl: string): RunOutputKey {
  const key = parseRunOutputKey(info);
  if (key !== undefined) return key;
  const where = `${normalBrokerUrl(brokerUrl)}/v1/info`;
  if (info.run_output_key === undefined && info.run_output_key_id === undefined)
    throw new ResponseIntegrityError(
      `${where} publishes no run-output key, so this broker does not take outputs (it predates them: upgrade it)`,
    );
  throw new ResponseIntegrityError(
    `${where} publishes a run-output key that is not a base64 X25519 public key with a key id`,
  );
}
