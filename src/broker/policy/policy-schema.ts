/** The policy file's shape (contract, DESIGN.md "Policy file"), read with YAML's failsafe schema: scalars are strings. */
import { z } from 'zod';
import { parseDurationSeconds } from './duration.js';

export const SUPPORTED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 600;
export const MAX_MAX_TOKEN_AGE_SECONDS = 24 * 3600;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const NAME = /^[A-Za-z0-9_.-]+$/;

function issuerUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    return 'must use https:// (http:// is allowed only for 127.0.0.1, localhost and [::1])';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  return undefined;
}

/** How an issuer's tokens are bound to the job's key (DESIGN.md Additions); `optional` when not set. */
export const KEY_BINDING_MODES = ['required', 'optional', 'off'] as const;
export type KeyBindingMode = (typeof KEY_BINDING_MODES)[number];

const audienceSchema = z.string().min(1, 'the audience must not be empty').max(512);

const issuerSchema = z.strictObject({
  url: z.string().superRefine((text, context) => {
    const problem = issuerUrlProblem(text);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: `issuer URL ${problem}` });
  }),
  algorithms: z
    .array(z.enum(SUPPORTED_ALGORITHMS, { message: `must be one of ${SUPPORTED_ALGORITHMS.join(', ')}` }))
    .min(1, 'must list at least one algorithm')
    .optional(),
  /** What makes a token single-use: its jti (default), or, for issuers that set none, the whole signed token. */
  replay_key: z.enum(['jti', 'token'], { message: 'must be jti or token' }).optional(),
  max_token_age: z
    .string()
    .transform((text, context) => {
      const seconds = parseDurationSeconds(text);
      if (seconds === undefined || seconds <= 0 || seconds > MAX_MAX_TOKEN_AGE_SECONDS) {
        context.addIssue({
          code: 'custom',
          message: `must be a duration such as 10m, 90s or 1h, above 0 and at most 24h; got "${text}"`,
        });
        return z.NEVER;
      }
      return seconds;
    })
    .optional(),
  /** The audience this issuer's tokens must carry; the policy's top-level audience when not set. */
  audience: audienceSchema.optional(),
  key_binding: z.enum(KEY_BINDING_MODES, { message: 'must be required, optional or off' }).optional(),
  /** Pinned keys: a JSON file {"keys": [...]} (relative to the policy file), or the same inline; no discovery. */
  jwks_file: z.string().min(1, 'give the path of a JSON file {"keys": [...]}').optional(),
  jwks: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
});

/** `rules[].when`: the shapes; the values (ranges, days, hours, zone) and empty maps are checked by conditions.ts. */
const whenSchema = z.strictObject({
  source_ips: z
    .array(z.string())
    .min(1, 'list at least one address range (such as 10.0.0.0/8), or remove source_ips')
    .optional(),
  time: z
    .strictObject({
      days: z
        .union([z.string(), z.array(z.string())], {
          message: 'must be a list of days ([mon, tue]) or a range such as "mon-fri"',
        })
        .optional(),
      hours: z.string().optional(),
      timezone: z.string(),
    })
    .optional(),
});

const ruleSchema = z.strictObject({
  name: z.string().regex(NAME, 'rule names use A-Z, a-z, 0-9, "_", "." and "-"'),
  description: z.string().optional(),
  issuer: z.string().min(1),
  claims: z.record(z.string().min(1), z.unknown()),
  secrets: z.array(z.string()).min(1, 'a rule must grant at least one secret name or pattern'),
  when: whenSchema.optional(),
});

const positiveNumber = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a positive number')
  .transform(Number)
  .refine((value) => value > 0, 'must be above 0');

const bucketSchema = z.strictObject({ rate: positiveNumber, burst: positiveNumber });

/** Generous by default: a large matrix of jobs of one repository, or many runners behind one NAT, fits. */
export const DEFAULT_LIMITS = {
  per_source_ip: { rate: 200, burst: 1000 },
  per_workload: { rate: 50, burst: 300 },
} as const;

export const policyFileSchema = z.strictObject({
  version: z.literal('1', { message: 'the only policy version is 1' }),
  audience: audienceSchema,
  issuers: z
    .record(z.string().regex(NAME, 'issuer names use A-Z, a-z, 0-9, "_", "." and "-"'), issuerSchema)
    .refine((issuers) => Object.keys(issuers).length > 0, { message: 'list at least one issuer' }),
  rules: z.array(ruleSchema),
  /** Token buckets (requests a second, burst) per source IP and per workload (issuer + repository or project). */
  limits: z
    .strictObject({ per_source_ip: bucketSchema.optional(), per_workload: bucketSchema.optional() })
    .optional(),
});
export type PolicyFile = z.infer<typeof policyFileSchema>;
