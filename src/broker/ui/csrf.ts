import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../store/master-key.js';
import { derivedKey } from '../store/master-key.js';

const CSRF_KEY_INFO = 'secrets-broker dashboard csrf v1';

/**
 * CSRF tokens for the dashboard's POST forms: an HMAC, under a key derived from the master key, of what the form
 * is bound to. Sign-in (no session yet): a random nonce the browser holds in a cookie (double submit, bound by the
 * HMAC, so a nonce alone is worth nothing). Every form after: the session's id.
 */
export class CsrfTokens {
  private readonly key: Buffer;

  constructor(master: MasterKey) {
    this.key = derivedKey(master, CSRF_KEY_INFO);
  }

  newNonce(): string {
    return randomBytes(32).toString('base64url');
  }

  forSignIn(nonce: string): string {
    return this.mac('sign-in', nonce);
  }

  forSession(sessionId: string): string {
    return this.mac('session', sessionId);
  }

  /** True when `given` is `expected`, compared in constant time. */
  static matches(expected: string, given: string | undefined): boolean {
    if (given === undefined) return false;
    const a = Buffer.from(expected);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private mac(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${value}`).digest('base64url');
  }
}

/**
 * Whether a POST came from a page of this origin, by the browser's own headers (no page script can set them).
 * Sec-Fetch-Site, which browsers send to secure contexts (HTTPS, and loopback), must be same-origin: Origin is then
 * "null" for the dashboard's own forms, as Referrer-Policy no-referrer makes it. Without Sec-Fetch-Site (an older
 * browser), Origin must name the host the request was sent to; "null" or none is refused. The scheme is not
 * compared: behind a TLS-terminating proxy the broker sees http while the page is https.
 */
export function isSameOrigin(headers: {
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
  readonly host: string | undefined;
}): boolean {
  if (headers.secFetchSite !== undefined) return headers.secFetchSite === 'same-origin';
  if (headers.origin === undefined || headers.host === undefined) return false;
  let origin: URL;
  try {
    origin = new URL(headers.origin);
  } catch {
    return false;
  }
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') return false;
  return origin.host.toLowerCase() === headers.host.toLowerCase();
}
