import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_DOCUMENT_BYTES = 512 * 1024;

export interface IssuerKeysOptions {
  /** How often keys are refreshed in the background. */
  readonly refreshIntervalMs: number;
  /** Keys older than this (no successful refresh) are dropped: the broker then fails closed. */
  readonly maxStaleMs: number;
  /** An unknown key id triggers a refresh at most this often. */
  readonly minRefetchIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly now: () => number;
}

export const DEFAULT_ISSUER_KEYS_OPTIONS: IssuerKeysOptions = {
  refreshIntervalMs: 5 * 60_000,
  maxStaleMs: 24 * 3600_000,
  minRefetchIntervalMs: 30_000,
  requestTimeoutMs: 5_000,
  now: () => Date.now(),
};

export class IssuerKeysUnavailableError extends Error {
  override name = 'IssuerKeysUnavailableError';
}

export interface IssuerKeyStatus {
  readonly issuer: string;
  readonly loaded: boolean;
  readonly keyCount: number;
  readonly fetchedAt: string | undefined;
  readonly lastError: string | undefined;
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
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;

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
  }

  /** The cached key set; fetched now when there is none. Throws when no usable key can be had. */
  async current(): Promise<JWTVerifyGetKey> {
    this.dropIfStale();
    if (this.keySet === undefined) await this.refresh();
    this.dropIfStale();
    if (this.keySet === undefined) {
      throw new IssuerKeysUnavailableError(
        `the signing keys of ${this.issuerUrl} could not be fetched (${this.lastError ?? 'unknown error'})`,
      );
    }
    return this.keySet;
  }

  /**
   * Called when a token names a key id we do not have: refreshes unless one was tried very recently.
   * Resolves true when the keys were (re)fetched successfully just now or by the last recent attempt.
   */
  async refreshForUnknownKey(): Promise<boolean> {
    const now = this.options.now();
    if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.options.minRefetchIntervalMs) {
      if (this.inflight !== undefined) return this.inflight;
      return this.lastError === undefined;
    }
    return this.refresh();
  }

  status(): IssuerKeyStatus {
    return {
      issuer: this.issuerUrl,
      loaded: this.keySet !== undefined,
      keyCount: this.keyCount,
      fetchedAt: this.fetchedAt === undefined ? undefined : new Date(this.fetchedAt).toISOString(),
      lastError: this.lastError,
    };
  }

  /** Fetches discovery and JWKS; concurrent callers share one attempt. Never throws. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.fetchKeys()
      .then((jwks) => {
        this.keySet = createLocalJWKSet(jwks);
        this.keyCount = jwks.keys.length;
        this.fetchedAt = this.options.now();
        this.lastError = undefined;
        return true;
      })
      .catch((error: unknown) => {
        this.lastError = error instanceof Error ? error.message : String(error);
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

  private dropIfStale(): void {
    if (this.fetchedAt !== undefined && this.options.now() - this.fetchedAt > this.options.maxStaleMs) {
      this.keySet = undefined;
      this.keyCount = 0;
      this.fetchedAt = undefined;
    }
  }

  private async fetchKeys(): Promise<JSONWebKeySet> {
    const discoveryUrl = `${this.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const discovery = (await this.fetchJson(discoveryUrl, 'discovery document')) as Record<string, unknown>;
    if (discovery.issuer !== this.issuerUrl) {
      throw new Error(
        `the discovery document names issuer ${JSON.stringify(discovery.issuer)}, not ${this.issuerUrl}`,
      );
    }
    const jwksUri = discovery.jwks_uri;
    if (typeof jwksUri !== 'string' || !isAllowedKeyUrl(jwksUri, this.issuerUrl)) {
      throw new Error(`the discovery document's jwks_uri ${JSON.stringify(jwksUri)} is not an https URL`);
    }
    const jwks = (await this.fetchJson(jwksUri, 'JWKS')) as { keys?: unknown };
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

  private async fetchJson(url: string, what: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, {
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
        headers: { accept: 'application/json' },
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new Error(`fetching the ${what} at ${url} failed: ${cause}`);
    }
    if (!response.ok) throw new Error(`the ${what} at ${url} answered HTTP ${response.status}`);
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES)
      throw new Error(`the ${what} at ${url} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`the ${what} at ${url} is not JSON`);
    }
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
