/** Wire protocol v1 (contract, DESIGN.md): request, response, sealed payload and problem documents. */
import { z } from 'zod';
import { SECRET_NAME_MAX_LENGTH } from './secret-names.js';

export const EXCHANGE_PATH = '/v1/exchange';
export const MAX_SECRETS_PER_REQUEST = 100;
export const RECIPIENT_KEY_BYTES = 32;
/** Standard base64 of exactly 32 bytes: 43 characters and one "=". */
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export const exchangeRequestSchema = z.strictObject({
  recipient: z
    .string()
    .regex(BASE64_32_BYTES, 'must be the standard base64 encoding of a 32-byte X25519 public key'),
  secrets: z
    .array(z.string().max(SECRET_NAME_MAX_LENGTH + 1))
    .min(1, 'must name at least one secret')
    .max(MAX_SECRETS_PER_REQUEST, `must name at most ${MAX_SECRETS_PER_REQUEST} secrets`),
});
export type ExchangeRequest = z.infer<typeof exchangeRequestSchema>;

export const sealedSecretSchema = z.strictObject({
  name: z.string(),
  version: z.number().int().positive(),
  sealed: z.string().min(1),
});
export type SealedSecret = z.infer<typeof sealedSecretSchema>;

export const exchangeResponseSchema = z.strictObject({
  request_id: z.string(),
  secrets: z.array(sealedSecretSchema),
});
export type ExchangeResponse = z.infer<typeof exchangeResponseSchema>;

/** What each sealed box holds, as UTF-8 JSON. */
export const sealedPayloadSchema = z.strictObject({
  name: z.string(),
  version: z.number().int().positive(),
  value: z.string(),
});
export type SealedPayload = z.infer<typeof sealedPayloadSchema>;

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
  secret_not_found: { status: 404, title: 'Secret not found' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  rate_limited: { status: 429, title: 'Rate limited' },
  unavailable: { status: 503, title: 'Service unavailable' },
  unauthorized: { status: 401, title: 'Admin token missing or not valid' },
  forbidden: { status: 403, title: 'Role not allowed' },
  not_found: { status: 404, title: 'Not found' },
  internal: { status: 500, title: 'Internal error' },
} as const;
export type ProblemCode = keyof typeof PROBLEM_TYPES;

export const problemSchema = z.looseObject({
  type: z.string().optional(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  request_id: z.string().optional(),
  secrets: z.array(z.string()).optional(),
  hint: z.string().optional(),
});
export type Problem = z.infer<typeof problemSchema>;
