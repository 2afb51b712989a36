/**
 * Wire protocol v1 (contract, DESIGN.md) without zod: the constants, the shapes, and the checks of what the
 * broker answers. The client bundles import this; wire.ts adds the zod schema the broker parses requests with.
 */

export const EXCHANGE_PATH = '/v1/exchange';
/** Discovery: the names (and current versions) a workload may read and that are stored, never a value. */
export const LIST_PATH = '/v1/list';
export const MAX_SECRETS_PER_REQUEST = 100;
export const RECIPIENT_KEY_BYTES = 32;

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
