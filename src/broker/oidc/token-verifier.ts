import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from 'pino';
import { quoted } from '../../protocol/quoted.js';
import { BrokerError } from '../errors.js';
import type { CompiledPolicy, IssuerConfig } from '../policy/compiled-policy.js';
import {
  DEFAULT_ISSUER_KEYS_OPTIONS,
  IssuerKeys,
  IssuerKeysUnavailableError,
  type IssuerKeysOptions,
  type IssuerKeyStatus,
} from './issuer-keys.js';

export const CLOCK_LEEWAY_SECONDS = 60;
export const MAX_TOKEN_BYTES = 16 * 1024;
const MAX_JTI_LENGTH = 512;

export interface VerifiedToken {
  readonly issuer: IssuerConfig;
  readonly claims: Readonly<JWTPayload>;
  readonly jtiHash: string;
  readonly expiresAt: number;
  readonly issuedAt: number;
}

/** Claims read before verification, for audit records of refused tokens. Never trusted for a decision. */
export function unverifiedClaims(token: string): Readonly<JWTPayload> | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

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

/**
 * The single-use key of a token without jti (replay_key: token): what the issuer signed, the header and
 * claims exactly. Not the signature: an ECDSA signature (r, s) has a twin (r, n - s) that verifies too, so
 * anyone holding a spent ES256 token could mint a "new" one; two tokens with the same signed content are one.
 */
function signedContentKey(token: string): string {
  return `token:${token.slice(0, token.lastIndexOf('.'))}`;
}

/**
 * Verifies OIDC ID tokens against the policy: issuer allow-list first (before any network request),
 * then pinned algorithms, the issuer's keys, audience, lifetime and age.
 */
export class TokenVerifier {
  private readonly keysByIssuer = new Map<string, IssuerKeys>();

  constructor(
    private readonly logger: Logger,
    private readonly onRefreshFailure: (issuerUrl: string) => void = () => undefined,
    private readonly keyOptions: IssuerKeysOptions = DEFAULT_ISSUER_KEYS_OPTIONS,
  ) {}

  /** Starts background key refresh for the policy's issuers (and only those). */
  track(policy: CompiledPolicy): void {
    for (const [url, keys] of this.keysByIssuer) {
      if (!policy.issuersByUrl.has(url)) {
        keys.stop();
        this.keysByIssuer.delete(url);
      }
    }
    for (const url of policy.issuersByUrl.keys()) this.keysFor(url).startBackgroundRefresh();
  }

  stop(): void {
    for (const keys of this.keysByIssuer.values()) keys.stop();
  }

  keyStatus(): IssuerKeyStatus[] {
    return [...this.keysByIssuer.values()].map((keys) => keys.status());
  }

  async verify(token: string, policy: CompiledPolicy): Promise<VerifiedToken> {
    if (token.length > MAX_TOKEN_BYTES) {
      throw new BrokerError(
        'invalid_token',
        `the token is ${token.length} bytes; the limit is ${MAX_TOKEN_BYTES}`,
      );
    }
    const spelling = nonCanonicalJwt(token);
    if (spelling !== undefined) {
      throw new BrokerError('invalid_token', `the bearer token is not a well-formed JWT: ${spelling}`, {
        hint: 'send the OIDC ID token exactly as your CI provider issued it',
      });
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new BrokerError(
        'invalid_token',
        'the bearer token is not a JWT (three base64url parts: header, claims, signature)',
        {
          hint: 'send the OIDC ID token from your CI provider as "Authorization: Bearer <token>"',
        },
      );
    }
    const issuerUrl = unverified.iss;
    const issuer = typeof issuerUrl === 'string' ? policy.issuersByUrl.get(issuerUrl) : undefined;
    if (issuer === undefined) {
      throw new BrokerError(
        'unknown_issuer',
        `the token's issuer ${quoted(issuerUrl ?? null)} is not in the policy's issuers`,
        {
          hint: `this broker accepts tokens from ${[...policy.issuersByUrl.keys()].join(', ')}; an admin adds other issuers to the policy`,
        },
      );
    }
    if (typeof header.alg !== 'string' || !issuer.algorithms.includes(header.alg)) {
      throw new BrokerError(
        'invalid_token',
        `the token is signed with algorithm ${quoted(header.alg ?? null)}; issuer "${issuer.name}" allows only ${issuer.algorithms.join(', ')}`,
      );
    }

    const payload = await this.verifySignatureAndClaims(token, issuer, policy.audience, header.kid);
    const jti = payload.jti;
    // An issuer without jti (replay_key: token) gets single use per signed token instead.
    const replayKey = issuer.replayKey === 'token' && jti === undefined ? signedContentKey(token) : jti;
    if (
      typeof replayKey !== 'string' ||
      replayKey === '' ||
      (typeof jti === 'string' && jti.length > MAX_JTI_LENGTH)
    ) {
      throw new BrokerError('invalid_token', 'the token\'s "jti" claim is not a non-empty string', {
        hint: 'the broker needs a unique jti to make each token single-use; for an issuer that sets none, set replay_key: token on it in the policy',
      });
    }
    return {
      issuer,
      claims: payload,
      jtiHash: hashJti(replayKey),
      expiresAt: payload.exp as number,
      issuedAt: payload.iat as number,
    };
  }

  private keysFor(issuerUrl: string): IssuerKeys {
    let keys = this.keysByIssuer.get(issuerUrl);
    if (keys === undefined) {
      keys = new IssuerKeys(issuerUrl, this.logger, this.onRefreshFailure, this.keyOptions);
      this.keysByIssuer.set(issuerUrl, keys);
    }
    return keys;
  }

  private async verifySignatureAndClaims(
    token: string,
    issuer: IssuerConfig,
    audience: string,
    kid: string | undefined,
  ): Promise<JWTPayload> {
    const keys = this.keysFor(issuer.url);
    const verify = async (): Promise<JWTPayload> => {
      const keySet = await keys.current();
      const { payload } = await jwtVerify(token, keySet, {
        issuer: issuer.url,
        audience,
        algorithms: [...issuer.algorithms],
        clockTolerance: CLOCK_LEEWAY_SECONDS,
        maxTokenAge: issuer.maxTokenAgeSeconds,
        requiredClaims: issuer.replayKey === 'jti' ? ['jti', 'iat', 'exp'] : ['iat', 'exp'],
      });
      return payload;
    };
    try {
      try {
        return await verify();
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        // A key id we do not know: the issuer may have rotated its keys. Refetch (rate-limited) and retry once.
        if (!(await keys.refreshForUnknownKey())) {
          throw new BrokerError(
            'unavailable',
            `the token's key id ${quoted(kid ?? null)} is not among the cached keys of ${issuer.url}, and the issuer's keys cannot be fetched right now`,
            { hint: 'retry in a minute; if it persists, the broker cannot reach the issuer' },
          );
        }
        return await verify();
      }
    } catch (error) {
      throw this.translate(error, issuer, audience, kid);
    }
  }

  private translate(
    error: unknown,
    issuer: IssuerConfig,
    audience: string,
    kid: string | undefined,
  ): unknown {
    if (error instanceof BrokerError) return error;
    if (error instanceof IssuerKeysUnavailableError) {
      return new BrokerError(
        'unavailable',
        `no usable signing key for issuer "${issuer.name}": ${error.message}`,
        {
          hint: 'the broker releases nothing while it cannot verify tokens; retry later',
        },
      );
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      return new BrokerError(
        'invalid_token',
        `no key of issuer "${issuer.name}" has the token's key id ${quoted(kid ?? null)}`,
      );
    }
    if (error instanceof errors.JWKSMultipleMatchingKeys) {
      return new BrokerError(
        'invalid_token',
        `several keys of issuer "${issuer.name}" match the token's key id; refusing to guess`,
      );
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return new BrokerError(
        'invalid_token',
        `the token's signature does not verify with issuer "${issuer.name}"'s key`,
      );
    }
    if (error instanceof errors.JWTExpired) {
      if (error.claim === 'iat') {
        return new BrokerError(
          'invalid_token',
          `the token was issued more than ${issuer.maxTokenAgeSeconds} s ago (max_token_age of issuer "${issuer.name}")`,
          {
            hint: 'request the ID token right before the exchange; do not reuse a token from earlier in the job',
          },
        );
      }
      return new BrokerError('invalid_token', 'the token has expired ("exp" is in the past)', {
        hint: 'request a fresh ID token right before the exchange',
      });
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      return this.translateClaimFailure(error, issuer, audience);
    }
    if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
      return new BrokerError(
        'invalid_token',
        `the token's algorithm is not allowed for issuer "${issuer.name}"`,
      );
    }
    if (error instanceof errors.JOSEError) {
      return new BrokerError('invalid_token', `the token is malformed: ${error.message}`);
    }
    return error;
  }

  private translateClaimFailure(
    error: InstanceType<typeof errors.JWTClaimValidationFailed>,
    issuer: IssuerConfig,
    audience: string,
  ): BrokerError {
    const actual = error.payload[error.claim];
    if (error.reason === 'missing') {
      return new BrokerError(
        'invalid_token',
        `the token has no "${error.claim}" claim, which the broker requires`,
      );
    }
    switch (error.claim) {
      case 'aud': {
        const audiences = Array.isArray(actual) ? actual : [actual];
        const githubDefault = audiences.some(
          (value) => typeof value === 'string' && value.startsWith('https://github.com/'),
        );
        return new BrokerError(
          'invalid_token',
          `the token's audience ${Array.isArray(actual) ? `[${actual.map((item) => quoted(item)).join(', ')}]` : quoted(actual)} does not contain this broker's audience ${JSON.stringify(audience)}`,
          {
            hint: githubDefault
              ? `that is GitHub's default audience; request the token with audience "${audience}" (the action's "audience" input, or core.getIDToken("${audience}"))`
              : `request the ID token with audience "${audience}"`,
          },
        );
      }
      case 'nbf':
        return new BrokerError('invalid_token', 'the token is not valid yet ("nbf" is in the future)', {
          hint: 'check the clock of the issuer and of the broker',
        });
      case 'iat':
        return new BrokerError('invalid_token', 'the token\'s "iat" is in the future', {
          hint: 'check the clock of the issuer and of the broker',
        });
      case 'iss':
        return new BrokerError('unknown_issuer', `the token's issuer is not ${issuer.url}`);
      default:
        return new BrokerError('invalid_token', `the token's "${error.claim}" claim is not valid`);
    }
  }
}
