import { compactVerify, decodeJwt, errors, type JWTPayload } from 'jose';
import type { Logger } from 'pino';
import { quoted } from '../../protocol/quoted.js';
import { hasCode } from '../../protocol/coded-error.js';
import { BrokerError, toBrokerError } from '../errors.js';
import type { CompiledPolicy, IssuerConfig } from '../policy/compiled-policy.js';
import {
  DEFAULT_ISSUER_KEYS_OPTIONS,
  IssuerKeys,
  IssuerKeysUnavailableError,
  type IssuerKeysOptions,
  type IssuerKeyStatus,
} from './issuer-keys.js';
import {
  audienceForm,
  checkTokenBeforeSignature,
  checkTokenClaims,
  firstClaimsFailure,
  hashJti,
  replayKeyOf,
} from './token-checks.js';

export { CLOCK_LEEWAY_SECONDS, hashJti } from './token-checks.js';

export interface VerifiedToken {
  readonly issuer: IssuerConfig;
  readonly claims: Readonly<JWTPayload>;
  readonly jtiHash: string;
  readonly expiresAt: number;
  readonly issuedAt: number;
  /** The key digest the token's audience binds it to (checked against the request's key), or undefined. */
  readonly boundKeyDigest: string | undefined;
}

/** Claims read before verification, for audit records of refused tokens. Never trusted for a decision. */
export function unverifiedClaims(token: string): Readonly<JWTPayload> | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
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
    const form = checkTokenBeforeSignature(token, policy);
    if (!form.passed) throw form.error;
    const { header, claims, issuer } = form.token;
    await this.verifySignature(token, issuer, header.kid);
    // The signature covers the claims decoded above: from here on they are the issuer's.
    const failure = firstClaimsFailure(
      checkTokenClaims(token, claims, issuer, Math.floor(Date.now() / 1000)),
    );
    if (failure?.error !== undefined) throw failure.error;
    const audience = audienceForm(claims.aud, issuer.audience);
    return {
      boundKeyDigest: audience.kind === 'bound' ? audience.digest : undefined,
      issuer,
      claims,
      jtiHash: hashJti(replayKeyOf(token, claims, issuer) as string),
      expiresAt: claims.exp as number,
      issuedAt: claims.iat as number,
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

  private async verifySignature(token: string, issuer: IssuerConfig, kid: string | undefined): Promise<void> {
    const keys = this.keysFor(issuer.url);
    const verify = async (): Promise<void> => {
      const keySet = await keys.current();
      const { protectedHeader } = await compactVerify(token, keySet, { algorithms: [...issuer.algorithms] });
      if (protectedHeader.b64 === false) throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload');
    };
    try {
      try {
        await verify();
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
        await verify();
      }
    } catch (error) {
      throw this.translate(error, issuer, kid);
    }
  }

  private translate(error: unknown, issuer: IssuerConfig, kid: string | undefined): unknown {
    if (error instanceof BrokerError) return error;
    if (hasCode(error, 'issuer_keys_unavailable')) {
      // The keys are kept per issuer URL; the problem names the issuer as the policy does.
      const named = new IssuerKeysUnavailableError(
        `no usable signing key for issuer "${issuer.name}": ${error.message}`,
      );
      return toBrokerError(named, 'exchange');
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
}
