/** The broker's offline token checks decide exactly as jose's claim validation, which the exchange used before. */
import fc from 'fast-check';
import { errors, UnsecuredJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  checkTokenClaims,
  CLOCK_LEEWAY_SECONDS,
  firstClaimsFailure,
  type ClaimsCheck,
} from '../../src/broker/oidc/token-checks.js';
import type { IssuerConfig } from '../../src/broker/policy/compiled-policy.js';

const NOW = 1_700_000_000;
const AUDIENCE = 'https://secrets.example.com';
const issuer = (replayKey: 'jti' | 'token'): IssuerConfig => ({
  name: 'github',
  line: 3,
  url: 'https://token.actions.githubusercontent.com',
  algorithms: ['RS256'],
  maxTokenAgeSeconds: 600,
  replayKey,
  audience: AUDIENCE,
  keyBinding: 'optional',
  pinnedKeys: undefined,
});

/** The check jose refuses at, in the names checkTokenClaims uses; undefined when jose accepts. */
function joseVerdict(claims: JWTPayload, config: IssuerConfig): ClaimsCheck | undefined {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  try {
    UnsecuredJWT.decode(`${part({ alg: 'none' })}.${part(claims)}.`, {
      issuer: config.url,
      audience: AUDIENCE,
      clockTolerance: CLOCK_LEEWAY_SECONDS,
      maxTokenAge: config.maxTokenAgeSeconds,
      requiredClaims: config.replayKey === 'jti' ? ['jti', 'iat', 'exp'] : ['iat', 'exp'],
      currentDate: new Date(NOW * 1000),
    });
    return undefined;
  } catch (error) {
    if (error instanceof errors.JWTExpired) return error.claim === 'iat' ? 'token_age' : 'expiry';
    if (!(error instanceof errors.JWTClaimValidationFailed)) throw error;
    if (error.reason === 'missing') return 'required_claims';
    if (error.claim === 'aud') return 'audience';
    if (error.claim === 'nbf') return 'not_before';
    if (error.claim === 'exp') return 'expiry';
    // iat: "must be a number" comes before nbf and exp; "in the future" after them.
    return error.reason === 'invalid' ? 'issued_at' : 'token_age';
  }
}

const time = fc.oneof(
  fc.integer({ min: NOW - 2000, max: NOW + 2000 }),
  fc.constantFrom(NOW - 60, NOW - 61, NOW + 60, NOW + 61, NOW - 660, NOW - 661),
);
const maybe = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 4, arbitrary },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, '1700000000', 'x') },
  );

describe('checkTokenClaims', () => {
  it('refuses at the same check as jose for any claims, with the same clock skew and max_token_age', () => {
    fc.assert(
      fc.property(
        fc.record({
          iat: maybe(time),
          nbf: maybe(time),
          exp: maybe(time),
          jti: maybe(fc.constantFrom('id-1', '')),
          aud: maybe(fc.constantFrom<unknown>(AUDIENCE, 'https://github.com/acme', [AUDIENCE, 'x'], ['x'])),
        }),
        fc.constantFrom<'jti' | 'token'>('jti', 'token'),
        (fields, replayKey) => {
          const claims: JWTPayload = { iss: issuer(replayKey).url };
          for (const [key, value] of Object.entries(fields)) if (value !== undefined) claims[key] = value;
          const config = issuer(replayKey);
          const results = checkTokenClaims('h.c.s', claims, config, NOW);
          const failure = firstClaimsFailure(results);
          const expected = joseVerdict(claims, config);
          if (expected !== undefined) expect(failure?.check).toBe(expected);
          // Past jose, the broker asks for a non-empty jti (or, with replay_key: token, none at all).
          else expect(failure === undefined || failure.check === 'replay_key').toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("gives the broker's messages and hints", () => {
    const claims = { iss: 'x', aud: 'https://github.com/acme', iat: NOW, exp: NOW + 300, jti: 'j' };
    const failure = firstClaimsFailure(checkTokenClaims('h.c.s', claims, issuer('jti'), NOW));
    expect(failure?.error?.code).toBe('invalid_token');
    expect(failure?.error?.message).toBe(
      `the token's audience "https://github.com/acme" does not contain the audience of issuer "github", "${AUDIENCE}"`,
    );
    expect(failure?.error?.hint).toContain("that is GitHub's default audience");
    const old = firstClaimsFailure(
      checkTokenClaims('h.c.s', { ...claims, aud: AUDIENCE, iat: NOW - 700 }, issuer('jti'), NOW),
    );
    expect(old?.error?.message).toBe(
      'the token was issued more than 600 s ago (max_token_age of issuer "github")',
    );
  });
});
