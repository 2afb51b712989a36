import { CodedError } from '../../protocol/coded-error.js';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { boundedGetJson } from '../../protocol/bounded-request.js';
import { quoted } from '../../protocol/quoted.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_DOCUMENT_BYTES = 512 * 1024;
/** After a failed attempt with no usable keys, the next one waits 1 s, then 2 s, 4 s, … up to minRefetchIntervalMs. */
const FIRST_RETRY_DELAY_MS = 1_000;

export interface IssuerKeysOptions {
  /** How often keys are refreshed in the background. */
  readonly refreshIntervalMs: number;
  /** Keys older than this (no successful refresh) are dropped: the broker then fails closed. */
  readonly maxStaleMs: number;
  /** An unknown key id triggers a refresh at most this often. */
  readonly minRefetchIntervalMs: number;
  /** Deadline of each issuer request (discovery, then JWKS): connect, headers and the whole body. */
  readonly requestTimeoutMs: number;
  readonly now: () => number;
  /** Reads an issuer document (tests serve them in-process); by default a bounded GET. */
  readonly getJson?: typeof boundedGetJson;
}

export const DEFAULT_ISSUER_KEYS_OPTIONS: IssuerKeysOptions = {
  refreshIntervalMs: 5 * 60_000,
  maxStaleMs: 24 * 3600_000,
  minRefetchIntervalMs: 30_000,
  requestTimeoutMs: 5_000,
  now: () => Date.now(),
};

export class IssuerKeysUnavailableError extends CodedError {
  readonly code: string = 'issuer_keys_unavailable';
  override name = 'IssuerKeysUnavailableError';
}

export interface IssuerKeyStatus {
  readonly issuer: string;
  /** `discovery`: fetched from the issuer; `pinned`: from the policy (`jwks_file` / `jwks`), never fetched. */
  readonly source: 'discovery' | 'pinned';
  /** Whether tokens can be verified now (pinned: some key is within its declared validity). */
  readonly loaded: boolean;
  /** Keys usable now. */
  readonly keyCount: number;
  readonly fetchedAt: string | undefined;
  readonly lastError: string | undefined;
  /** Pinned keys only: the earliest declared end of validity of the keys usable now (ISO 8601), if any declares one. */
  readonly validUntil: string | undefined;
}

/**
 * One allowed issuer's signing keys: found through OIDC discovery, kept in memory and refreshed in the
 * background, so a short issuer outage does not stop tokens signed by known keys.
 */
export class IssuerKeys {
  private keySet: JWTVerifyGetKey | undefined;
  private keyCount = 0;
  private fetchedAt: number | undefined;
  private lastAttemptAt: number | undefined;
  private lastError: string | undefined;
  /** Failed attempts since the last success; drives the retry back-off. */
  private failures = 0;
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Set by stop(): a refresh under way makes no further request (the policy may now pin this issuer's keys). */
  private stopped = false;

  constructor(
    readonly issuerUrl: string,
    private readonly logger: Logger,
    private readonly onRefreshFailure: (issuerUrl: string) => void,
    private readonly options: IssuerKeysOptions = DEFAULT_ISSUER_KEYS_OPTIONS,
  ) {}

  startBackgroundRefresh(): void {
    if (this.timer !== undefined) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  /**
   * The cached key set, at once when there is one (a background refresh is never waited for). With none, one
   * attempt to fetch it is made and waited for (bounded by the request deadlines), unless the last attempt
   * failed and the retry back-off has not run out, or a retry is already under way: then this throws at once,
   * so a slow or broken issuer costs each exchange nothing.
   */
  async current(): Promise<JWTVerifyGetKey> {
    this.dropIfStale();
    if (this.keySet !== undefined) return this.keySet;
    if (this.failures > 0 && (this.inflight !== undefined || this.retryDelayLeft() > 0)) {
      throw this.unavailable();
    }
    await this.refresh();
    this.dropIfStale();
    if (this.keySet === undefined) throw this.unavailable();
    return this.keySet;
  }

  /**
   * Called when a token names a key id we do not have: refreshes unless one was tried very recently.
   * Resolves true when the keys were (re)fetched successfully just now or by the last recent attempt.
   * An attempt under way is joined only while the issuer is not known to be failing.
   */
  async refreshForUnknownKey(): Promise<boolean> {
    if (this.inflight !== undefined) return this.failures === 0 ? this.inflight : false;
    const now = this.options.now();
    if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.options.minRefetchIntervalMs) {
      return this.failures === 0;
    }
    return this.refresh();
  }

  status(): IssuerKeyStatus {
    return {
      issuer: this.issuerUrl,
      source: 'discovery',
      loaded: this.keySet !== undefined,
      keyCount: this.keyCount,
      fetchedAt: this.fetchedAt === undefined ? undefined : new Date(this.fetchedAt).toISOString(),
      lastError: this.lastError,
      validUntil: undefined,
    };
  }

  /** Fetches discovery and JWKS; concurrent callers share one attempt. Never throws. */
  refresh(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.inflight ??= this.fetchKeys()
      .then((jwks) => {
        this.keySet = createLocalJWKSet(jwks);
        this.keyCount = jwks.keys.length;
        this.fetchedAt = this.options.now();
        this.lastError = undefined;
        this.failures = 0;
        return true;
      })
      .catch((error: unknown) => {
        if (this.stopped) return false;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.failures += 1;
        this.onRefreshFailure(this.issuerUrl);
        this.logger.warn({ issuer: this.issuerUrl, error: this.lastError }, 'issuer key refresh failed');
        return false;
      })
      .finally(() => {
        this.lastAttemptAt = this.options.now();
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** How long until another attempt is allowed after the last failure (0 when allowed now). */
  private retryDelayLeft(): number {
    if (this.failures === 0 || this.lastAttemptAt === undefined) return 0;
    const backoff = Math.min(
      this.options.minRefetchIntervalMs,
      FIRST_RETRY_DELAY_MS * 2 ** Math.min(this.failures - 1, 30),
    );
    return Math.max(0, this.lastAttemptAt + backoff - this.options.now());
  }

  private unavailable(): IssuerKeysUnavailableError {
    const waitMs = this.retryDelayLeft();
    const next =
      this.inflight !== undefined
        ? 'an attempt is under way'
        : waitMs > 0
          ? `next attempt in ${Math.ceil(waitMs / 1000)} s`
          : 'next attempt on the next token';
    return new IssuerKeysUnavailableError(
      `the signing keys of ${this.issuerUrl} could not be fetched (${this.lastError ?? 'unknown error'}); ${next}`,
    );
  }

  private dropIfStale(): void {
    if (this.fetchedAt !== undefined && this.options.now() - this.fetchedAt > this.options.maxStaleMs) {
      this.keySet = undefined;
      this.keyCount = 0;
      this.fetchedAt = undefined;
    }
  }

  private async fetchKeys(): Promise<JSONWebKeySet> {
    const discoveryUrl = `${this.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const discovery = await this.fetchJson(discoveryUrl, 'discovery document');
    if (discovery.issuer !== this.issuerUrl) {
      throw new Error(
        `the discovery document names issuer ${quoted(discovery.issuer)}, not ${this.issuerUrl}`,
      );
    }
    if (this.stopped) throw new Error('stopped: this issuer is no longer fetched (the policy changed)');
    const jwksUri = discovery.jwks_uri;
    if (typeof jwksUri !== 'string' || !isAllowedKeyUrl(jwksUri, this.issuerUrl)) {
      throw new Error(`the discovery document's jwks_uri ${quoted(jwksUri)} is not an https URL`);
    }
    const jwks = await this.fetchJson(jwksUri, 'JWKS');
    if (!Array.isArray(jwks.keys)) throw new Error('the JWKS has no "keys" list');
    // Only public keys: a private member in a JWKS is an issuer bug and is never used.
    const keys = jwks.keys.filter(
      (key): key is JSONWebKeySet['keys'][number] =>
        typeof key === 'object' &&
        key !== null &&
        !('d' in key) &&
        typeof (key as { kty?: unknown }).kty === 'string',
    );
    if (keys.length === 0) throw new Error('the JWKS holds no usable public key');
    return { keys };
  }

  /** The document at `url` as a JSON object, read within the deadline and the size limit. */
  private fetchJson(url: string, what: string): Promise<Record<string, unknown>> {
    return (this.options.getJson ?? boundedGetJson)(url, {
      what: `the ${what}`,
      timeoutMs: this.options.requestTimeoutMs,
      maxBytes: MAX_DOCUMENT_BYTES,
      accept: 'application/json, application/jwk-set+json',
    });
  }
}

function isAllowedKeyUrl(text: string, issuerUrl: string): boolean {
  try {
    const url = new URL(text);
    if (url.protocol === 'https:') return true;
    // Plain http only for a loopback issuer's loopback key endpoint (local testing).
    return (
      url.protocol === 'http:' &&
      LOOPBACK_HOSTS.has(url.hostname) &&
      LOOPBACK_HOSTS.has(new URL(issuerUrl).hostname)
    );
  } catch {
    return false;
  }
}
