/**
 * Wire protocol v1 (contract, DESIGN.md) without zod: the constants, the shapes, and the checks of what the
 * broker answers. The client bundles import this; wire.ts adds the zod schema the broker parses requests with.
 */
import { parseDuration } from './duration.js';

export const EXCHANGE_PATH = '/v1/exchange';
/** Discovery: the names (and current versions) a workload may read and that are stored, never a value. */
export const LIST_PATH = '/v1/list';
export const MAX_SECRETS_PER_REQUEST = 100;
export const RECIPIENT_KEY_BYTES = 32;

/** Cross-job outputs: a job seals values to the broker's run-output key; later jobs of the run read `run/NAME`. */
export const OUTPUTS_PATH = '/v1/outputs';
/** The prefix under which an output NAME is stored and read back (`run/NAME`); the put names NAME alone. */
export const RUN_OUTPUT_PREFIX = 'run/';
export const MAX_OUTPUTS_PER_REQUEST = 20;
/** The largest output value, in UTF-8 bytes. */
export const MAX_OUTPUT_VALUE_BYTES = 64 * 1024;
export const OUTPUT_TTL_DEFAULT_SECONDS = 6 * 3600;
export const OUTPUT_TTL_MIN_SECONDS = 60;
export const OUTPUT_TTL_MAX_SECONDS = 24 * 3600;

export interface SealedSecret {
  name: string;
  version: number;
  sealed: string;
}

export interface ExchangeResponse {
  request_id: string;
  secrets: SealedSecret[];
}

export interface ListedSecret {
  name: string;
  version: number;
}

/** The 200 answer to POST /v1/list: exactly this, sorted by name. */
export interface ListResponse {
  secrets: ListedSecret[];
}

/** One output of POST /v1/outputs: `sealed` is base64 of crypto_box_seal(run_output_key, OutputPayload). */
export interface OutputToPut {
  name: string;
  sealed: string;
  /** A duration (`90s`, `10m`, `1h`, `1d`, or combined: `1h30m`); the broker's default when absent. */
  ttl?: string;
}

export interface OutputsRequest {
  outputs: OutputToPut[];
}

/** What each output's sealed box holds, as UTF-8 JSON: the name again (a box cannot be moved to another). */
export interface OutputPayload {
  name: string;
  value: string;
}

export interface StoredOutput {
  /** The name as put (without `run/`). */
  name: string;
  /** When it stops being released: ISO 8601, UTC. */
  expires_at: string;
}

/** The 200 answer to POST /v1/outputs: exactly this, one entry per output put, in the order sent. */
export interface OutputsResponse {
  request_id: string;
  outputs: StoredOutput[];
}

/** The run-output key fields of /v1/info. */
export interface RunOutputKey {
  /** base64 of the 32-byte X25519 public key. */
  run_output_key: string;
  /** A short id of that key: 1..64 of A-Z a-z 0-9 "_" "-". */
  run_output_key_id: string;
}

/** What each sealed box holds, as UTF-8 JSON. */
export interface SealedPayload {
  name: string;
  version: number;
  value: string;
}

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id?: string;
  secrets?: string[];
  hint?: string;
  [extension: string]: unknown;
}

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isVersion = (value: unknown): value is number => isInteger(value) && value > 0;
/** An object with exactly these keys (a strict object: anything else makes the whole answer wrong). */
const hasOnlyKeys = (value: Fields, keys: readonly string[]): boolean =>
  Object.keys(value).every((key) => keys.includes(key));
const optional = (value: unknown, check: (value: unknown) => boolean): boolean =>
  value === undefined || check(value);

function isSealedSecret(value: unknown): value is SealedSecret {
  return (
    isObject(value) &&
    hasOnlyKeys(value, ['name', 'version', 'sealed']) &&
    isString(value.name) &&
    isVersion(value.version) &&
    isString(value.sealed) &&
    value.sealed.length > 0
  );
}

/** A 200 answer to the exchange, or undefined when the body is not exactly that shape. */
export function parseExchangeResponse(value: unknown): ExchangeResponse | undefined {
  if (
    !isObject(value) ||
    !hasOnlyKeys(value, ['request_id', 'secrets']) ||
    !isString(value.request_id) ||
    !Array.isArray(value.secrets) ||
    !value.secrets.every(isSealedSecret)
  )
    return undefined;
  return { request_id: value.request_id, secrets: value.secrets };
}

function isListedSecret(value: unknown): value is ListedSecret {
  return (
    isObject(value) &&
    hasOnlyKeys(value, ['name', 'version']) &&
    isString(value.name) &&
    isVersion(value.version)
  );
}

/** A 200 answer to the list, or undefined when the body is not exactly that shape. */
export function parseListResponse(value: unknown): ListResponse | undefined {
  if (
    !isObject(value) ||
    !hasOnlyKeys(value, ['secrets']) ||
    !Array.isArray(value.secrets) ||
    !value.secrets.every(isListedSecret)
  )
    return undefined;
  return { secrets: value.secrets.map(({ name, version }) => ({ name, version })) };
}

export function parseSealedPayload(value: unknown): SealedPayload | undefined {
  if (
    !isObject(value) ||
    !hasOnlyKeys(value, ['name', 'version', 'value']) ||
    !isString(value.name) ||
    !isVersion(value.version) ||
    !isString(value.value)
  )
    return undefined;
  return { name: value.name, version: value.version, value: value.value };
}

function isStoredOutput(value: unknown): value is StoredOutput {
  return (
    isObject(value) &&
    hasOnlyKeys(value, ['name', 'expires_at']) &&
    isString(value.name) &&
    isString(value.expires_at) &&
    !Number.isNaN(Date.parse(value.expires_at))
  );
}

/** A 200 answer to POST /v1/outputs, or undefined when the body is not exactly that shape. */
export function parseOutputsResponse(value: unknown): OutputsResponse | undefined {
  if (
    !isObject(value) ||
    !hasOnlyKeys(value, ['request_id', 'outputs']) ||
    !isString(value.request_id) ||
    !Array.isArray(value.outputs) ||
    !value.outputs.every(isStoredOutput)
  )
    return undefined;
  return {
    request_id: value.request_id,
    outputs: value.outputs.map(({ name, expires_at }) => ({ name, expires_at })),
  };
}

const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Canonical base64 of exactly RECIPIENT_KEY_BYTES bytes (the form the broker publishes and the client sends). */
export function isBase64Key(value: unknown): value is string {
  return (
    isString(value) &&
    Buffer.from(value, 'base64').length === RECIPIENT_KEY_BYTES &&
    Buffer.from(value, 'base64').toString('base64') === value
  );
}

/**
 * The run-output key fields of a /v1/info answer, or undefined when either is missing or not exactly its
 * shape (a broker without outputs publishes neither).
 */
export function parseRunOutputKey(info: unknown): RunOutputKey | undefined {
  if (!isObject(info) || !isBase64Key(info.run_output_key)) return undefined;
  const id = info.run_output_key_id;
  if (!isString(id) || !KEY_ID.test(id)) return undefined;
  return { run_output_key: info.run_output_key, run_output_key_id: id };
}

export function parseOutputPayload(value: unknown): OutputPayload | undefined {
  if (
    !isObject(value) ||
    !hasOnlyKeys(value, ['name', 'value']) ||
    !isString(value.name) ||
    !isString(value.value)
  )
    return undefined;
  return { name: value.name, value: value.value };
}

export function encodeOutputPayload(payload: OutputPayload): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ name: payload.name, value: payload.value }));
}

/**
 * An output's time to live in seconds: `90s`, `10m`, `6h`, `1d` or combined in that order (`1h30m`); a bare
 * number has no unit and is refused. A string describing the problem when it is not one, or out of range.
 */
export function parseOutputTtl(text: string): number | string {
  const total = parseDuration(text);
  if (total === undefined)
    return 'it is not a duration: write a number and a unit, such as 90s, 10m, 6h or 1d (or combined: 1h30m)';
  if (total < OUTPUT_TTL_MIN_SECONDS || total > OUTPUT_TTL_MAX_SECONDS)
    return `it is ${total} s; an output lives at least ${OUTPUT_TTL_MIN_SECONDS} s (1m) and at most ${OUTPUT_TTL_MAX_SECONDS} s (24h)`;
  return total;
}

/** A problem document (RFC 9457, with the contract's members); members it does not know are kept. */
export function parseProblem(value: unknown): Problem | undefined {
  if (
    !isObject(value) ||
    !optional(value.type, isString) ||
    !isString(value.title) ||
    !isInteger(value.status) ||
    !isString(value.detail) ||
    !isString(value.code) ||
    !optional(value.request_id, isString) ||
    !optional(value.secrets, (secrets) => Array.isArray(secrets) && secrets.every(isString)) ||
    !optional(value.hint, isString)
  )
    return undefined;
  return value as Problem;
}

export function encodeSealedPayload(payload: SealedPayload): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ name: payload.name, version: payload.version, value: payload.value }),
  );
}

/** Problem codes of the contract, plus the admin API's own. */
export const PROBLEM_TYPES = {
  invalid_request: { status: 400, title: 'Invalid request' },
  invalid_token: { status: 401, title: 'Invalid token' },
  unknown_issuer: { status: 401, title: 'Unknown issuer' },
  token_replayed: { status: 401, title: 'Token already used' },
  key_binding_required: { status: 401, title: 'Token not bound to a key' },
  key_binding_mismatch: { status: 401, title: 'Token bound to another key' },
  policy_denied: { status: 403, title: 'Denied by policy' },
  condition_failed: { status: 403, title: 'Condition not met' },
  secret_expired: { status: 403, title: 'Secret expired' },
  rotation_required: { status: 403, title: 'Rotation required' },
  secret_not_found: { status: 404, title: 'Secret not found' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  rate_limited: { status: 429, title: 'Rate limited' },
  read_budget_exhausted: { status: 429, title: 'Read budget exhausted' },
  unavailable: { status: 503, title: 'Service unavailable' },
  unauthorized: { status: 401, title: 'Admin token missing or not valid' },
  forbidden: { status: 403, title: 'Role not allowed' },
  not_found: { status: 404, title: 'Not found' },
  internal: { status: 500, title: 'Internal error' },
} as const;
export type ProblemCode = keyof typeof PROBLEM_TYPES;
