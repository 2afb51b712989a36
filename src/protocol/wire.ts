/**
 * Wire protocol v1 (contract, DESIGN.md): everything in wire-shapes.ts, plus the zod schemas the broker parses
 * exchange and list requests with. Client code imports wire-shapes.ts, so the client bundles carry no zod.
 */
import { z } from 'zod';
import { MAX_ENTRY_LENGTH } from './secret-names.js';
import { MAX_SECRETS_PER_REQUEST } from './wire-shapes.js';

export * from './wire-shapes.js';

/** Standard base64 of exactly 32 bytes: 43 characters and one "=". */
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export const exchangeRequestSchema = z.strictObject({
  recipient: z
    .string()
    .regex(BASE64_32_BYTES, 'must be the standard base64 encoding of a 32-byte X25519 public key'),
  secrets: z
    .array(z.string().max(MAX_ENTRY_LENGTH))
    .min(1, 'must name at least one secret')
    .max(MAX_SECRETS_PER_REQUEST, `must name at most ${MAX_SECRETS_PER_REQUEST} secrets`),
});
export type ExchangeRequest = z.infer<typeof exchangeRequestSchema>;

/** POST /v1/list: `{}` lists everything the workload may read; `secrets` narrows it to these names and patterns. */
export const listRequestSchema = z.strictObject({
  secrets: z
    .array(z.string().max(MAX_ENTRY_LENGTH))
    .min(1, 'must name at least one name or pattern; send {} to list everything')
    .max(MAX_SECRETS_PER_REQUEST, `must name at most ${MAX_SECRETS_PER_REQUEST} names or patterns`)
    .optional(),
});
export type ListRequest = z.infer<typeof listRequestSchema>;
