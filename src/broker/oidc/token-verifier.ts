import {
  compactVerify,
  createLocalJWKSet,
  decodeJwt,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
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
import {
  addKeyHint,
  earliestNotAfter,
  isoDate,
  keysValidAt,
  type PinnedKey,
  type PinnedKeySet,
} from '../policy/pinned-keys.js';

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
  /** Discovered issuers' keys, by URL; an issuer with pinned keys never has an entry (nothing fetches for it). */
  private readonly keysByIssuer = new Map<string, IssuerKeys>();
  /** The issuers the tracked policy pins keys for. */
  private pinnedIssuers: readonly PinnedIssuer[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly onRefreshFailure: (issuerUrl: string) => void = () => undefined,
    private readonly keyOptions: IssuerKeysOptions = DEFAULT_ISSUER_KEYS_OPTIONS,
  ) {}

  /**
   * Starts background key refresh for the policy's issuers whose keys are discovered (and only those); an issuer
   * whose keys the policy now pins loses its discovered keys and its refresh.
   */
  track(policy: CompiledPolicy): void {
    for (const [url, keys] of this.keysByIssuer) {
      const issuer = policy.issuersByUrl.get(url);
      if (issuer !== undefined && issuer.pinnedKeys === undefined) continue;
      keys.stop();
      this.keysByIssuer.delete(url);
    }
    const issuers = [...policy.issuersByUrl.values()];
    this.pinnedIssuers = issuers.flatMap((issuer) =>
      issuer.pinnedKeys === undefined
        ? []
        : [{ name: issuer.name, url: issuer.url, keys: issuer.pinnedKeys }],
    );
    const nowSeconds = this.nowSeconds();
    for (const issuer of this.pinnedIssuers) {
      if (keysValidAt(issuer.keys, nowSeconds).length === 0)
        this.logger.error(
          { issuer: issuer.url, keys: issuer.keys.source },
          'no pinned key of the issuer is within its declared validity now (all ended, or not started yet): its tokens are refused',
        );
    }
    for (const issuer of issuers)
      if (issuer.pinnedKeys === undefined) this.keysFor(issuer.url).startBackgroundRefresh();
  }

  stop(): void {
    for (const keys of this.keysByIssuer.values()) keys.stop();
  }

  keyStatus(): IssuerKeyStatus[] {
    const nowSeconds = this.nowSeconds();
    return [
      ...[...this.keysByIssuer.values()].map((keys) => keys.status()),
      ...this.pinnedIssuers.map((issuer) => pinnedStatus(issuer, nowSeconds)),
    ];
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

  private nowSeconds(): number {
    return Math.floor(this.keyOptions.now() / 1000);
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
    if (issuer.pinnedKeys !== undefined) {
      await verifyPinnedSignature(token, issuer, issuer.pinnedKeys, kid, this.nowSeconds());
      return;
    }
    if (this.pinnedIssuers.some((pinned) => pinned.url === issuer.url)) {
      // A request decided by the policy before a reload that pinned this issuer's keys: never fetch for it.
      throw new BrokerError(
        'unavailable',
        `the policy was just reloaded and now pins the keys of issuer "${issuer.name}"`,
        { hint: 'retry the request' },
      );
    }
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
      throw translate(error, issuer, kid);
    }
  }
}

/** An issuer whose keys the tracked policy pins. */
interface PinnedIssuer {
  readonly name: string;
  readonly url: string;
  readonly keys: PinnedKeySet;
}

function pinnedStatus(issuer: PinnedIssuer, nowSeconds: number): IssuerKeyStatus {
  const usable = keysValidAt(issuer.keys, nowSeconds);
  const validUntil = earliestNotAfter(usable);
  return {
    issuer: issuer.url,
    source: 'pinned',
    loaded: usable.length > 0,
    keyCount: usable.length,
    fetchedAt: undefined,
    lastError:
      usable.length > 0
        ? undefined
        : 'no pinned key is within its declared validity now (all ended, or not started yet)',
    validUntil: validUntil === undefined ? undefined : isoDate(validUntil),
  };
}

/** The jose key set of the pinned keys valid now, per set: rebuilt only when a key's validity starts or ends. */
const localKeySets = new WeakMap<
  PinnedKeySet,
  { readonly usable: readonly PinnedKey[]; readonly keySet: JWTVerifyGetKey }
>();

function localKeySet(set: PinnedKeySet, usable: readonly PinnedKey[]): JWTVerifyGetKey {
  const cached = localKeySets.get(set);
  if (cached !== undefined && sameKeys(cached.usable, usable)) return cached.keySet;
  const local = createLocalJWKSet({ keys: usable.map((key) => key.jwk) });
  const only = usable.length === 1 ? usable[0] : undefined;
  // A single pinned key without a key id verifies whatever key id the token names (the operator pinned that one key).
  const keySet: JWTVerifyGetKey =
    only !== undefined && only.kid === undefined
      ? (header, jws) => local({ ...header, kid: undefined }, jws)
      : local;
  localKeySets.set(set, { usable, keySet });
  return keySet;
}

function sameKeys(a: readonly PinnedKey[], b: readonly PinnedKey[]): boolean {
  return a.length === b.length && a.every((key, index) => key === b[index]);
}

/**
 * Verifies a token's signature with the keys the policy pins for its issuer, valid now by the validity their file
 * declares; no request is made. Throws a BrokerError naming the issuer and saying what to do.
 */
export async function verifyPinnedSignature(
  token: string,
  issuer: IssuerConfig,
  set: PinnedKeySet,
  kid: string | undefined,
  nowSeconds: number,
): Promise<void> {
  const usable = keysValidAt(set, nowSeconds);
  const hint = addKeyHint(set);
  if (usable.length === 0) {
    const ended = Math.max(...set.keys.map((key) => key.notAfter ?? 0));
    throw new BrokerError(
      'unavailable',
      `every key pinned for issuer "${issuer.name}" is outside the validity the policy declares for it${ended > 0 && ended <= nowSeconds ? ` (the last ended at ${isoDate(ended)})` : ''}, so none of its tokens can be verified`,
      { hint: `an operator must ${hint}` },
    );
  }
  const named = kid === undefined ? undefined : set.keys.find((key) => key.kid === kid);
  if (named !== undefined && !usable.includes(named)) {
    const when =
      named.notAfter !== undefined && nowSeconds >= named.notAfter
        ? `whose declared validity ended at ${isoDate(named.notAfter)}`
        : `whose declared validity starts at ${isoDate(named.notBefore ?? 0)}`;
    throw new BrokerError(
      'invalid_token',
      `the token's key id ${quoted(kid ?? null)} names a key pinned for issuer "${issuer.name}" ${when}`,
      { hint },
    );
  }
  const anyKid = usable.length === 1 && usable[0]?.kid === undefined;
  if (kid !== undefined && named === undefined && !anyKid) {
    throw new BrokerError(
      'invalid_token',
      `the token's key id ${quoted(kid)} is not among the keys pinned for issuer "${issuer.name}" (its keys are pinned in the policy, never fetched)`,
      { hint },
    );
  }
  try {
    const { protectedHeader } = await compactVerify(token, localKeySet(set, usable), {
      algorithms: [...issuer.algorithms],
    });
    if (protectedHeader.b64 === false) throw new errors.JWTInvalid('JWTs MUST NOT use unencoded payload');
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed)
      throw new BrokerError(
        'invalid_token',
        `the token's signature does not verify with the keys pinned for issuer "${issuer.name}"`,
        { hint },
      );
    if (error instanceof errors.JWKSNoMatchingKey)
      throw new BrokerError(
        'invalid_token',
        `no key pinned for issuer "${issuer.name}" fits the token's key id ${quoted(kid ?? null)} and algorithm`,
        { hint },
      );
    if (error instanceof errors.JWKSMultipleMatchingKeys)
      throw new BrokerError(
        'invalid_token',
        `the token names no key id and several keys are pinned for issuer "${issuer.name}"; refusing to guess`,
      );
    throw translate(error, issuer, kid);
  }
}

/** A jose error as the problem the client gets, naming the issuer as the policy does. */
function translate(error: unknown, issuer: IssuerConfig, kid: string | undefined): unknown {
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
