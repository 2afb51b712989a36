/**
 * The admin API under /v1/admin: what each route takes and answers. The broker parses requests and builds its
 * answers with these; the CLI parses every answer with them. One key style: snake_case. Answers are strict
 * objects, so a renamed or added key is a change of this contract, not a surprise for a client.
 */
import { z } from 'zod';
import { MAX_VERSION } from './secret-names.js';

export const ADMIN_API_PATH = '/v1/admin';

export const ADMIN_ROLES = ['owner', 'admin', 'auditor'] as const;

/** The values of the audit query's enumerated filters: the CLI offers exactly these, the API refuses others. */
export const AUDIT_KINDS = ['exchange', 'list', 'output', 'admin'] as const;
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

/** Longest description and owner of a secret (printable text on one line). */
export const MAX_SECRET_DESCRIPTION = 200;
export const MAX_SECRET_OWNER = 100;

/** A read budget: at most `count` releases in each fixed window of `period_seconds`. */
const readBudgetSchema = z.strictObject({
  count: z.number().int(),
  period_seconds: z.number().int(),
});

/**
 * Conditions of a secret as a write changes them: a key left out keeps its value, null clears it. The broker
 * checks each value (an expiry in the past, a budget of 0, text too long or not printable are refused).
 */
export const secretConditionsChangeSchema = z.strictObject({
  expires_at: z.string().max(64).nullable().optional(),
  max_reads: readBudgetSchema.nullable().optional(),
  rotate_after_reads: z.number().int().nullable().optional(),
  description: z.string().max(4096).nullable().optional(),
  owner: z.string().max(4096).nullable().optional(),
});
export type SecretConditionsChange = z.infer<typeof secretConditionsChangeSchema>;

/** PUT /secrets/{name} */
export const setSecretRequestSchema = z.strictObject({
  value: z.string(),
  dry_run: z.boolean().optional(),
  conditions: secretConditionsChangeSchema.optional(),
});
export type SetSecretRequest = z.infer<typeof setSecretRequestSchema>;

/** PATCH /secrets/{name}: changes conditions without touching the value. */
export const updateSecretRequestSchema = z.strictObject({ conditions: secretConditionsChangeSchema });
export type UpdateSecretRequest = z.infer<typeof updateSecretRequestSchema>;

/** POST /rollback/{name}: stores kept version `to`'s value as a new version. */
export const rollbackSecretRequestSchema = z.strictObject({ to: z.number().int().min(1).max(MAX_VERSION) });
export type RollbackSecretRequest = z.infer<typeof rollbackSecretRequestSchema>;

/** POST /tokens. The role is checked by the broker, which names the roles in its answer. */
export const createTokenRequestSchema = z.strictObject({ label: z.string(), role: z.string() });
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;

/**
 * POST /policy/explain: exactly one of `claims` and `token`. Rule conditions are checked for `source_ip` (not
 * checked without it) at `at` (an ISO 8601 date-time with a zone; default now).
 */
export const explainRequestSchema = z.strictObject({
  claims: z.record(z.string(), z.unknown()).optional(),
  token: z
    .string()
    .max(16 * 1024)
    .optional(),
  secrets: z.array(z.string()).max(100).optional(),
  source_ip: z
    .union([z.ipv4(), z.ipv6()], { message: 'must be an IPv4 or IPv6 address such as 203.0.113.7' })
    .optional(),
  at: z.iso
    .datetime({
      offset: true,
      message: 'must be an ISO 8601 date-time with a zone, such as 2026-03-09T14:00:00Z',
    })
    .optional(),
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

/** A secret's conditions as stored; null: not set. */
export const secretConditionsSchema = z.strictObject({
  expires_at: z.string().nullable(),
  max_reads: readBudgetSchema.nullable(),
  rotate_after_reads: z.number().int().nullable(),
  description: z.string().nullable(),
  owner: z.string().nullable(),
});
export type SecretConditionsAnswer = z.infer<typeof secretConditionsSchema>;

/**
 * One secret: names, versions and conditions, never a value. `releases`: of the current version, counted while
 * rotate_after_reads is set; `reads_in_window`: reads counted in the read budget's current window. The three
 * flags say whether an exchange would now be refused for the secret, and why.
 */
export const secretListingSchema = z.strictObject({
  name: z.string(),
  version: z.number().int(),
  versions: z.number().int(),
  updated_at: z.string(),
  ...secretConditionsSchema.shape,
  releases: z.number().int(),
  reads_in_window: z.number().int(),
  expired: z.boolean(),
  budget_exhausted: z.boolean(),
  rotation_required: z.boolean(),
});
export type SecretListing = z.infer<typeof secretListingSchema>;

/** PATCH /secrets/{name} */
export const secretUpdateResponseSchema = z.strictObject({
  name: z.string(),
  version: z.number().int(),
  conditions: secretConditionsSchema,
});
export type SecretUpdateResponse = z.infer<typeof secretUpdateResponseSchema>;

/**
 * One kept version, never its value: `bytes` (UTF-8 length) and `fingerprint` (first 12 hex digits of an HMAC of
 * the value under a key derived from the master key) are null for versions stored before they were kept.
 */
export const secretVersionSchema = z.strictObject({
  version: z.number().int(),
  created_at: z.string(),
  bytes: z.number().int().nullable(),
  fingerprint: z.string().nullable(),
  created_by: z.strictObject({ token_id: z.string(), label: z.string() }).nullable(),
  current: z.boolean(),
});
export type SecretVersionAnswer = z.infer<typeof secretVersionSchema>;

/** GET /versions/{name}: newest first. `current_version` is null once the name is deleted. */
export const secretVersionsResponseSchema = z.strictObject({
  name: z.string(),
  current_version: z.number().int().nullable(),
  last_version: z.number().int(),
  /** The newest versions kept (at most 1000); `more` when older ones are kept too. */
  versions: z.array(secretVersionSchema),
  more: z.boolean(),
});
export type SecretVersionsResponse = z.infer<typeof secretVersionsResponseSchema>;

/** POST /rollback/{name} */
export const secretRollbackResponseSchema = z.strictObject({
  name: z.string(),
  from: z.number().int(),
  version: z.number().int(),
});
export type SecretRollbackResponse = z.infer<typeof secretRollbackResponseSchema>;

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

/** DELETE /secrets/{name}, with `?purge=true` to destroy every kept version too. */
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
  source_ip: z.string().nullable(),
  at: z.string().nullable(),
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
        conditions: z
          .array(
            z.strictObject({
              condition: z.enum(['source_ips', 'time']),
              expected: z.string(),
              actual: z.string().nullable(),
              holds: z.boolean().nullable(),
            }),
          )
          .readonly(),
        grants: z.boolean(),
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
        assumes: z.string().nullable(),
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

/** POST /output-key/rotate: a new current run-output key pair; `drop_old` then deletes every other pair. */
export const outputKeyRotateRequestSchema = z.strictObject({
  drop_old: z.boolean().optional(),
});

/** POST /output-key/rotate and POST /output-key/drop-old */
export const outputKeyRotateResponseSchema = z.strictObject({
  key_id: z.string(),
  /** base64 of the current X25519 public key (what /v1/info publishes as run_output_key). */
  public_key: z.string(),
  rotated: z.boolean(),
  /** Older pairs still kept: outputs sealed to them stay readable until dropped. */
  kept_key_ids: z.array(z.string()).readonly(),
  dropped_key_ids: z.array(z.string()).readonly(),
  /** Outputs deleted with the dropped pairs (they could never be opened again). */
  dropped_outputs: z.number().int(),
});
export type OutputKeyRotateResponse = z.infer<typeof outputKeyRotateResponseSchema>;
