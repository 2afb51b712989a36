/**
 * The admin API under /v1/admin: what each route takes and answers. The broker parses requests and builds its
 * answers with these; the CLI parses every answer with them. One key style: snake_case. Answers are strict
 * objects, so a renamed or added key is a change of this contract, not a surprise for a client.
 */
import { z } from 'zod';

export const ADMIN_API_PATH = '/v1/admin';

export const ADMIN_ROLES = ['owner', 'admin', 'auditor'] as const;

/** The values of the audit query's enumerated filters: the CLI offers exactly these, the API refuses others. */
export const AUDIT_KINDS = ['exchange', 'admin'] as const;
export const AUDIT_OUTCOMES = ['allowed', 'denied', 'error'] as const;

/** Records in one audit page: `limit` is 1 to this, 100 when not given. A full page comes with a cursor. */
export const MAX_AUDIT_PAGE = 1000;
export const DEFAULT_AUDIT_PAGE = 100;

/** The query parameters GET /audit takes; any other is refused. */
export const AUDIT_QUERY_PARAMETERS = [
  'since',
  'until',
  'kind',
  'outcome',
  'repository',
  'secret',
  'rule',
  'request_id',
  'after',
  'limit',
] as const;

/** Versions re-encrypted by one POST /keys/rotate/batch: 1 to this. */
export const MAX_ROTATION_BATCH = 1000;

// Requests (JSON bodies).

/** PUT /secrets/{name} */
export const setSecretRequestSchema = z.strictObject({
  value: z.string(),
  dry_run: z.boolean().optional(),
});
export type SetSecretRequest = z.infer<typeof setSecretRequestSchema>;

/** POST /tokens. The role is checked by the broker, which names the roles in its answer. */
export const createTokenRequestSchema = z.strictObject({ label: z.string(), role: z.string() });
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;

/** POST /policy/explain: exactly one of `claims` and `token`. */
export const explainRequestSchema = z.strictObject({
  claims: z.record(z.string(), z.unknown()).optional(),
  token: z
    .string()
    .max(16 * 1024)
    .optional(),
  secrets: z.array(z.string()).max(100).optional(),
});
export type ExplainRequest = z.infer<typeof explainRequestSchema>;

/** POST /keys/rotate/batch */
export const rotationBatchRequestSchema = z.strictObject({
  target_key_id: z.string(),
  size: z.number().int().min(1).max(MAX_ROTATION_BATCH),
});
export type RotationBatchRequest = z.infer<typeof rotationBatchRequestSchema>;

// Answers.

const role = z.enum(ADMIN_ROLES);

/** GET /whoami */
export const whoamiResponseSchema = z.strictObject({ token_id: z.string(), label: z.string(), role });
export type WhoamiResponse = z.infer<typeof whoamiResponseSchema>;

/** One secret: names and versions, never a value. */
export const secretListingSchema = z.strictObject({
  name: z.string(),
  version: z.number().int(),
  versions: z.number().int(),
  updated_at: z.string(),
});
export type SecretListing = z.infer<typeof secretListingSchema>;

/** GET /secrets */
export const secretListResponseSchema = z.strictObject({ secrets: z.array(secretListingSchema) });
export type SecretListResponse = z.infer<typeof secretListResponseSchema>;

/** PUT /secrets/{name}: 201 when stored, 200 for a dry run. */
export const secretWriteResponseSchema = z.strictObject({
  name: z.string(),
  version: z.number().int(),
  bytes: z.number().int(),
  sha256: z.string(),
  dry_run: z.boolean(),
});
export type SecretWriteResponse = z.infer<typeof secretWriteResponseSchema>;

/** DELETE /secrets/{name} */
export const secretDeleteResponseSchema = z.strictObject({ name: z.string(), deleted: z.literal(true) });
export type SecretDeleteResponse = z.infer<typeof secretDeleteResponseSchema>;

/** POST /tokens: the token is in clear in this answer only. */
export const tokenCreateResponseSchema = z.strictObject({
  id: z.string(),
  token: z.string(),
  label: z.string(),
  role,
  created_at: z.string(),
});
export type TokenCreateResponse = z.infer<typeof tokenCreateResponseSchema>;

export const tokenListingSchema = z.strictObject({
  id: z.string(),
  label: z.string(),
  role,
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type TokenListing = z.infer<typeof tokenListingSchema>;

/** GET /tokens */
export const tokenListResponseSchema = z.strictObject({ tokens: z.array(tokenListingSchema) });
export type TokenListResponse = z.infer<typeof tokenListResponseSchema>;

/** DELETE /tokens/{id} */
export const tokenRevokeResponseSchema = z.strictObject({ id: z.string(), revoked: z.literal(true) });
export type TokenRevokeResponse = z.infer<typeof tokenRevokeResponseSchema>;

/**
 * One audit record with its place in the chain. The record itself is the audit log's own format (exchange or
 * admin, older brokers' records included), passed through as it was written: only what every record has is
 * required here.
 */
export const auditEntrySchema = z.looseObject({
  seq: z.number().int(),
  hash: z.string(),
  kind: z.string(),
  time: z.string(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** GET /audit: a full page comes with `next_after`, the cursor of the next one; a page that is not full is the last. */
export const auditPageResponseSchema = z.strictObject({
  records: z.array(auditEntrySchema),
  next_after: z.number().int().nullable(),
});
export type AuditPageResponse = z.infer<typeof auditPageResponseSchema>;

const chainHeadSchema = z.strictObject({ seq: z.number().int(), hash: z.string() });

/**
 * GET /audit/verify. Brokers from before the keyed chain answered only ok, checked and problem: the other keys
 * are optional here so the CLI still reads them; this broker always sends every one.
 */
export const auditVerifyResponseSchema = z.strictObject({
  ok: z.boolean(),
  checked: z.number().int(),
  last_seq: z.number().int().optional(),
  keyed: z.number().int().optional(),
  hash_only: z.number().int().optional(),
  under_unconfigured_key: z
    .array(
      z.strictObject({
        key: z.string(),
        first: z.number().int(),
        last: z.number().int(),
        count: z.number().int(),
      }),
    )
    .readonly()
    .optional(),
  keyed_from: z.strictObject({ seq: z.number().int(), time: z.string().nullable() }).nullable().optional(),
  head: chainHeadSchema.nullable().optional(),
  heads_matched: z.array(z.number().int()).readonly().optional(),
  problem: z.strictObject({ seq: z.number().int(), reason: z.string() }).optional(),
});
export type AuditVerifyResponse = z.infer<typeof auditVerifyResponseSchema>;

const tokenCheckSchema = z.string();

/** POST /policy/explain */
export const explainResponseSchema = z.strictObject({
  token: z
    .strictObject({
      checks: z
        .array(
          z.strictObject({
            check: tokenCheckSchema,
            result: z.enum(['passed', 'failed', 'not_checked']),
            detail: z.string(),
          }),
        )
        .readonly(),
      refused: z
        .strictObject({
          check: tokenCheckSchema,
          code: z.string(),
          detail: z.string(),
          hint: z.string().nullable(),
        })
        .nullable(),
      signature_checked: z.boolean(),
    })
    .nullable(),
  issuer: z.string().nullable(),
  issuer_url: z.string().nullable(),
  note: z.string().nullable(),
  rules: z
    .array(
      z.strictObject({
        name: z.string(),
        line: z.number().int(),
        issuer: z.string(),
        issuer_matches: z.boolean(),
        matched: z.boolean(),
        claims: z
          .array(
            z.strictObject({
              claim: z.string(),
              expected: z.string(),
              actual: z.array(z.string()).readonly().optional(),
              matched: z.boolean(),
            }),
          )
          .readonly(),
      }),
    )
    .readonly(),
  matched_rules: z.array(z.string()).readonly(),
  secrets: z
    .array(
      z.strictObject({
        entry: z.string(),
        granted: z.boolean(),
        rules: z.array(z.string()).readonly(),
        reason: z.string().nullable(),
      }),
    )
    .readonly(),
});
export type ExplainResponse = z.infer<typeof explainResponseSchema>;

/** POST /keys/rotate */
export const rotationStatusResponseSchema = z.strictObject({
  target_key_id: z.string(),
  new_key_version: z.boolean(),
  total: z.number().int(),
  remaining: z.number().int(),
});
export type RotationStatusResponse = z.infer<typeof rotationStatusResponseSchema>;

/** POST /keys/rotate/batch */
export const rotationBatchResponseSchema = z.strictObject({
  target_key_id: z.string(),
  rewrapped: z.number().int(),
  total: z.number().int(),
  remaining: z.number().int(),
});
export type RotationBatchResponse = z.infer<typeof rotationBatchResponseSchema>;
