/**
 * Wire protocol v1 (contract, DESIGN.md): everything in wire-shapes.ts, plus the zod schemas the broker parses
 * exchange and list requests with. Client code imports wire-shapes.ts, so the client bundles carry no zod.
 */
import { z } from 'zod';
import { MAX_ENTRY_LENGTH, SECRET_NAME_MAX_LENGTH, secretNameProblem } from './secret-names.js';
import {
  MAX_OUTPUT_VALUE_BYTES,
  MAX_OUTPUTS_PER_REQUEST,
  MAX_SECRETS_PER_REQUEST,
  OUTPUT_TTL_DEFAULT_SECONDS,
  parseOutputTtl,
  RUN_OUTPUT_PREFIX,
} from './wire-shapes.js';

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

/** Standard base64, padded. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A box of the largest value: its JSON may escape every byte (6 characters each), then base64 and the seal. */
const MAX_SEALED_OUTPUT_LENGTH = Math.ceil(
  ((MAX_OUTPUT_VALUE_BYTES * 6 + 2 * SECRET_NAME_MAX_LENGTH + 48) * 4) / 3,
);

const outputSchema = z.strictObject({
  name: z
    .string()
    .max(SECRET_NAME_MAX_LENGTH - RUN_OUTPUT_PREFIX.length)
    .superRefine((name, context) => {
      const problem = secretNameProblem(`${RUN_OUTPUT_PREFIX}${name}`);
      if (problem !== undefined)
        context.addIssue({ code: 'custom', message: `is not a valid output name: ${problem}` });
    }),
  sealed: z
    .string()
    .min(1, 'must not be empty')
    .max(MAX_SEALED_OUTPUT_LENGTH, 'is longer than any sealed output can be')
    .regex(BASE64, 'must be standard base64 (of a crypto_box_seal to the run_output_key)'),
  ttl: z
    .string()
    .max(32)
    .optional()
    .transform((ttl, context) => {
      if (ttl === undefined) return OUTPUT_TTL_DEFAULT_SECONDS;
      const seconds = parseOutputTtl(ttl);
      if (typeof seconds === 'number') return seconds;
      context.addIssue({ code: 'custom', message: seconds });
      return z.NEVER;
    }),
});

/** POST /v1/outputs: 1 to MAX_OUTPUTS_PER_REQUEST outputs, each name once. */
export const outputsRequestSchema = z.strictObject({
  outputs: z
    .array(outputSchema)
    .min(1, 'must hold at least one output')
    .max(MAX_OUTPUTS_PER_REQUEST, `must hold at most ${MAX_OUTPUTS_PER_REQUEST} outputs`)
    .superRefine((outputs, context) => {
      const seen = new Set<string>();
      for (const [index, output] of outputs.entries()) {
        if (seen.has(output.name))
          context.addIssue({
            code: 'custom',
            path: [index, 'name'],
            message: 'names an output already in this request',
          });
        seen.add(output.name);
      }
    }),
});
/** The request as parsed: each output's ttl in seconds (the default filled in). */
export type ParsedOutputsRequest = z.output<typeof outputsRequestSchema>;
