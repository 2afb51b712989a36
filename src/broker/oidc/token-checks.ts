import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { quoted } from '../../protocol/quoted.js';
import { normalHttpUrl } from '../../protocol/url-spelling.js';
import { boundDigestIn } from '../../protocol/key-binding.js';
import { BrokerError } from '../errors.js';
import type { CompiledPolicy, IssuerConfig } from '../policy/compiled-policy.js';

/**
 * The broker's checks of an ID token that need no key and no network: its form, its issuer and algorithm
 * (before the signature), and its claims (after it). The exchange runs them around the signature check, and
 * `policy explain` runs the same functions, so what explain says is what the broker decides.
 */

export const CLOCK_LEEWAY_SECONDS = 60;
export const MAX_TOKEN_BYTES = 16 * 1024;
const MAX_JTI_LENGTH = 512;

export function hashJti(jti: string): string {
  return createHash('sha256').update(jti).digest('hex');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Why `token` is not a compact JWT in canonical base64url, or undefined when it is. Base64url decoders ignore
 * padding and the unused low bits of the last character, so one signed token has many spellings; only the
 * one the issuer produced is accepted, and single use can never be dodged by respelling a spent token.
 */
export function nonCanonicalJwt(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return `it has ${parts.length} parts; a JWT has three, separated by "."`;
  const names = ['header', 'claims', 'signature'];
  for (const [index, part] of parts.entries()) {
    if (!BASE64URL.test(part))
      return `its ${names[index]} has characters outside base64url (A-Z a-z 0-9 - _, no "=" padding)`;
    if (Buffer.from(part, 'base64url').toString('base64url') !== part)
      return `its ${names[index]} is not canonical base64url (its last character has stray bits set, or its length is impossible)`;
  }
  return undefined;
}

/** A token that passed the checks made before its signature. */
export interface TokenBeforeSignature {
  readonly header: ProtectedHeaderParameters;
  /** Not verified yet: the exchange trusts them only after the signature check. */
  readonly claims: JWTPayload;
  readonly issuer: IssuerConfig;
}

/** The checks before the signature, in the broker's order, each named as `policy explain` shows it. */
export type FormCheck = 'size' | 'encoding' | 'issuer' | 'algorithm';

export type FormCheckResult =
  | { readonly passed: true; readonly token: TokenBeforeSignature }
  | { readonly passed: false; readonly check: FormCheck; readonly error: BrokerError };

/**
 * The size, spelling, issuer allow-list (before any network request) and pinned algorithms of a token: the
 * token's header, claims and issuer, or the first check that failed with the broker's code, message and hint.
 */
export function checkTokenBeforeSignature(token: string, policy: CompiledPolicy): FormCheckResult {
  const fail = (check: FormCheck, error: BrokerError): FormCheckResult => ({ passed: false, check, error });
  if (token.length > MAX_TOKEN_BYTES) {
    return fail(
      'size',
      new BrokerError('invalid_token', `the token is ${token.length} bytes; the limit is ${MAX_TOKEN_BYTES}`),
    );
  }
  const spelling = nonCanonicalJwt(token);
  if (spelling !== undefined) {
    return fail(
      'encoding',
      new BrokerError('invalid_token', `the bearer token is not a well-formed JWT: ${spelling}`, {
        hint: 'send the OIDC ID token exactly as your CI provider issued it',
      }),
    );
  }
  let header: ProtectedHeaderParameters;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    return fail(
      'encoding',
      new BrokerError(
        'invalid_token',
        'the bearer token is not a JWT (three base64url parts: header, claims, signature)',
        { hint: 'send the OIDC ID token from your CI provider as "Authorization: Bearer <token>"' },
      ),
    );
  }
  const issuerUrl = claims.iss;
  const issuer = typeof issuerUrl === 'string' ? policy.issuersByUrl.get(issuerUrl) : undefined;
  if (issuer === undefined) {
    return fail(
      'issuer',
      new BrokerError(
        'unknown_issuer',
        `the token's issuer ${quoted(issuerUrl ?? null)} is not in the policy's issuers`,
        {
          hint: `this broker accepts tokens from ${[...policy.issuersByUrl.keys()].join(', ')}; an admin adds other issuers to the policy`,
        },
      ),
    );
  }
  if (typeof header.alg !== 'string' || !issuer.algorithms.includes(header.alg)) {
    return fail(
      'algorithm',
      new BrokerError(
        'invalid_token',
        `the token is signed with algorithm ${quoted(header.alg ?? null)}; issuer "${issuer.name}" allows only ${issuer.algorithms.join(', ')}`,
      ),
    );
  }
  return { passed: true, token: { header, claims, issuer } };
}

/** The checks of the claims after the signature, in the broker's order, each named as `policy explain` shows it. */
export type ClaimsCheck =
  'required_claims' | 'audience' | 'issued_at' | 'not_before' | 'expiry' | 'token_age' | 'replay_key';

export type TokenCheck = FormCheck | 'signature' | ClaimsCheck;

export interface ClaimsCheckResult {
  readonly check: ClaimsCheck;
  /** What was checked (when it passed) or the broker's refusal (when not). */
  readonly passed: boolean;
  readonly detail: string;
  readonly error?: BrokerError;
}

function requiredClaims(issuer: IssuerConfig): string[] {
  // Reported in this order when several are missing.
  return issuer.replayKey === 'jti' ? ['iss', 'aud', 'iat', 'exp', 'jti'] : ['iss', 'aud', 'iat', 'exp'];
}

function showAudience(value: unknown): string {
  return Array.isArray(value) ? `[${value.map((item) => quoted(item)).join(', ')}]` : quoted(value);
}

/**
 * Whether the token's aud (a string or an array of strings) names `audience`. An http(s) audience is compared
 * in the clients' one spelling (normalHttpUrl), so `https://x.example/` in the policy matches the
 * `https://x.example` a client requests by default, and the reverse; anything else is compared exactly.
 */
function audienceContains(value: unknown, audience: string): boolean {
  const spelling = (text: string): string => normalHttpUrl(text) ?? text;
  const wanted = spelling(audience);
  const names = (item: unknown): boolean => typeof item === 'string' && spelling(item) === wanted;
  return Array.isArray(value) ? value.some(names) : names(value);
}

/** A claim's time as a date (the same text whenever it is shown, so explanations compare equal). */
function at(secondsSinceEpoch: number): string {
  const date = new Date(secondsSinceEpoch * 1000);
  return Number.isNaN(date.getTime()) ? String(secondsSinceEpoch) : date.toISOString();
}

/**
 * The single-use key of a token without jti (replay_key: token): what the issuer signed, the header and
 * claims exactly. Not the signature: an ECDSA signature (r, s) has a twin (r, n - s) that verifies too, so
 * anyone holding a spent ES256 token could mint a "new" one; two tokens with the same signed content are one.
 */
function signedContentKey(token: string): string {
  return `token:${token.slice(0, token.lastIndexOf('.'))}`;
}

/** The key that makes a token single-use: its jti, or for an issuer with replay_key: token and no jti, its content. */
export function replayKeyOf(token: string, claims: JWTPayload, issuer: IssuerConfig): string | undefined {
  const jti = claims.jti;
  const replayKey = issuer.replayKey === 'token' && jti === undefined ? signedContentKey(token) : jti;
  if (
    typeof replayKey !== 'string' ||
    replayKey === '' ||
    (typeof jti === 'string' && jti.length > MAX_JTI_LENGTH)
  ) {
    return undefined;
  }
  return replayKey;
}

/** What each check of the claims looks at. */
interface ClaimsCheckInput {
  readonly token: string;
  readonly claims: JWTPayload;
  readonly issuer: IssuerConfig;
  readonly nowSeconds: number;
}

type ClaimsCheckStep = (input: ClaimsCheckInput) => ClaimsCheckResult;

function passed(check: ClaimsCheck, detail: string): ClaimsCheckResult {
  return { check, passed: true, detail };
}

function failed(check: ClaimsCheck, error: BrokerError): ClaimsCheckResult {
  return { check, passed: false, detail: error.message, error };
}

function missingClaim(claim: string): BrokerError {
  return new BrokerError('invalid_token', `the token has no "${claim}" claim, which the broker requires`);
}

function notNumber(claim: string): BrokerError {
  return new BrokerError('invalid_token', `the token's "${claim}" claim is not a number of seconds`);
}

const checkRequiredClaims: ClaimsCheckStep = ({ claims, issuer }) => {
  const required = requiredClaims(issuer);
  const missing = required.find((claim) => !Object.hasOwn(claims, claim));
  return missing === undefined
    ? passed('required_claims', `the token has ${required.join(', ')}`)
    : failed('required_claims', missingClaim(missing));
};

/** How a token's `aud` names its issuer's audience: plainly, bound to a key (its digest), or not at all. */
export type AudienceForm =
  | { readonly kind: 'plain' }
  | { readonly kind: 'bound'; readonly digest: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'ambiguous' };

/**
 * The form of the token's audience for `audience`: bound when one `aud` value is `<audience>/key-binding/<digest>`
 * (then a plain value beside it changes nothing: the binding is checked), plain when a value is the audience.
 */
export function audienceForm(value: unknown, audience: string): AudienceForm {
  const values = (Array.isArray(value) ? value : [value]).filter(
    (item): item is string => typeof item === 'string',
  );
  const digests = values.flatMap((item) => boundDigestIn(item, audience) ?? []);
  if (digests.length > 1) return { kind: 'ambiguous' };
  if (digests.length === 1) return { kind: 'bound', digest: digests[0] as string };
  return audienceContains(value, audience) ? { kind: 'plain' } : { kind: 'absent' };
}

const checkAudience: ClaimsCheckStep = ({ claims, issuer }) => {
  const { audience } = issuer;
  const form = audienceForm(claims.aud, audience);
  if (form.kind === 'plain')
    return passed('audience', `the token's audience contains ${JSON.stringify(audience)}`);
  if (form.kind === 'bound' && issuer.keyBinding !== 'off')
    return passed(
      'audience',
      `the token's audience is ${JSON.stringify(audience)} bound to a key (key_binding: ${issuer.keyBinding}): the request must present that key`,
    );
  if (form.kind === 'ambiguous')
    return failed(
      'audience',
      new BrokerError(
        'invalid_token',
        `the token's audience ${showAudience(claims.aud)} binds it to more than one key`,
        {
          hint: `request the ID token with one audience: "${audience}", or that audience bound to this request's key`,
        },
      ),
    );
  if (form.kind === 'bound')
    return failed(
      'audience',
      new BrokerError(
        'invalid_token',
        `the token's audience is bound to a key, and issuer "${issuer.name}" has key_binding: off`,
        {
          hint: `request the token with the plain audience "${audience}" (the action's and secrets-fetch's key-binding: false), or an admin sets key_binding: optional on the issuer`,
        },
      ),
    );
  const githubDefault = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).some(
    (value) => typeof value === 'string' && value.startsWith('https://github.com/'),
  );
  return failed(
    'audience',
    new BrokerError(
      'invalid_token',
      `the token's audience ${showAudience(claims.aud)} does not contain the audience of issuer "${issuer.name}", ${JSON.stringify(audience)}`,
      {
        hint: githubDefault
          ? `that is GitHub's default audience; request the token with audience "${audience}" (the action's "audience" input, or core.getIDToken("${audience}"))`
          : `request the ID token with audience "${audience}"`,
      },
    ),
  );
};

const checkIssuedAt: ClaimsCheckStep = ({ claims: { iat } }) => {
  if (typeof iat === 'number') return passed('issued_at', `issued at ${at(iat)}`);
  return failed('issued_at', iat === undefined ? missingClaim('iat') : notNumber('iat'));
};

const checkNotBefore: ClaimsCheckStep = ({ claims: { nbf }, nowSeconds }) => {
  if (nbf === undefined) return passed('not_before', 'the token has no "nbf"');
  if (typeof nbf !== 'number') return failed('not_before', notNumber('nbf'));
  if (nbf > nowSeconds + CLOCK_LEEWAY_SECONDS)
    return failed(
      'not_before',
      new BrokerError('invalid_token', 'the token is not valid yet ("nbf" is in the future)', {
        hint: 'check the clock of the issuer and of the broker',
      }),
    );
  return passed('not_before', `valid from ${at(nbf)} (${CLOCK_LEEWAY_SECONDS} s of clock skew allowed)`);
};

const checkExpiry: ClaimsCheckStep = ({ claims: { exp }, nowSeconds }) => {
  if (exp === undefined) return failed('expiry', missingClaim('exp'));
  if (typeof exp !== 'number') return failed('expiry', notNumber('exp'));
  if (exp <= nowSeconds - CLOCK_LEEWAY_SECONDS)
    return failed(
      'expiry',
      new BrokerError('invalid_token', 'the token has expired ("exp" is in the past)', {
        hint: 'request a fresh ID token right before the exchange',
      }),
    );
  return passed('expiry', `expires at ${at(exp)} (${CLOCK_LEEWAY_SECONDS} s of clock skew allowed)`);
};

const checkTokenAge: ClaimsCheckStep = ({ claims: { iat }, issuer, nowSeconds }) => {
  if (typeof iat !== 'number')
    return failed('token_age', iat === undefined ? missingClaim('iat') : notNumber('iat'));
  const age = nowSeconds - iat;
  if (age - CLOCK_LEEWAY_SECONDS > issuer.maxTokenAgeSeconds)
    return failed(
      'token_age',
      new BrokerError(
        'invalid_token',
        `the token was issued more than ${issuer.maxTokenAgeSeconds} s ago (max_token_age of issuer "${issuer.name}")`,
        {
          hint: 'request the ID token right before the exchange; do not reuse a token from earlier in the job',
        },
      ),
    );
  if (age < -CLOCK_LEEWAY_SECONDS)
    return failed(
      'token_age',
      new BrokerError('invalid_token', 'the token\'s "iat" is in the future', {
        hint: 'check the clock of the issuer and of the broker',
      }),
    );
  return passed(
    'token_age',
    `issued within max_token_age of issuer "${issuer.name}" (${issuer.maxTokenAgeSeconds} s, ${CLOCK_LEEWAY_SECONDS} s of clock skew allowed)`,
  );
};

const checkReplayKey: ClaimsCheckStep = ({ token, claims, issuer }) => {
  if (replayKeyOf(token, claims, issuer) !== undefined)
    return passed(
      'replay_key',
      issuer.replayKey === 'token' && claims.jti === undefined
        ? 'single use by the signed token (replay_key: token)'
        : 'single use by its "jti"',
    );
  return failed(
    'replay_key',
    new BrokerError('invalid_token', 'the token\'s "jti" claim is not a non-empty string', {
      hint: 'the broker needs a unique jti to make each token single-use; for an issuer that sets none, set replay_key: token on it in the policy',
    }),
  );
};

/** The checks of the claims in the broker's order: the first that fails is its decision. */
const CLAIMS_CHECKS: readonly ClaimsCheckStep[] = [
  checkRequiredClaims,
  checkAudience,
  checkIssuedAt,
  checkNotBefore,
  checkExpiry,
  checkTokenAge,
  checkReplayKey,
];

/**
 * Every check of a token's claims, in the order the broker makes them (the first failure is its decision):
 * required claims, audience, the types and values of iat, nbf and exp with CLOCK_LEEWAY_SECONDS of clock
 * skew, the issuer's max_token_age counted from iat, and the single-use key. The issuer is the one the token's
 * iss named, so iss itself needs no second check. Checks that cannot be made (a claim missing) fail too.
 */
export function checkTokenClaims(
  token: string,
  claims: JWTPayload,
  issuer: IssuerConfig,
  nowSeconds: number,
): ClaimsCheckResult[] {
  const input: ClaimsCheckInput = { token, claims, issuer, nowSeconds };
  return CLAIMS_CHECKS.map((check) => check(input));
}

/** The broker's refusal of a token's claims (the first failed check), or undefined when they pass. */
export function firstClaimsFailure(results: readonly ClaimsCheckResult[]): ClaimsCheckResult | undefined {
  return results.find((result) => !result.passed);
}
