import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { derivedKey, type MasterKey } from '../store/master-key.js';

/** A signed-in dashboard session: the admin token itself, sealed in the browser's cookie, never stored. */
export interface Session {
  /** Random; binds the sign-out form's CSRF token to this session. */
  readonly id: string;
  /** The admin token signed in with: authenticated again on every request, so a revoked one ends the session. */
  readonly token: string;
  readonly issuedAt: number;
  /** Absolute end, whatever the activity. */
  readonly expiresAt: number;
  /** The last request; a session idle longer than IDLE_LIMIT_MS has ended. */
  readonly seenAt: number;
}

/** Why a cookie opened no session: none sent, past its end, idle too long, or not one this broker sealed. */
export type SessionEnd = 'none' | 'expired' | 'idle' | 'invalid';

/** Short on purpose: a copied cookie stays usable on a replica that did not see the sign-out until one of these. */
export const SESSION_LIFETIME_MS = 4 * 3_600_000;
export const IDLE_LIMIT_MS = 20 * 60_000;
/** Replicas' clocks may differ a little: a session sealed a moment "in the future" is still good. */
const CLOCK_SKEW_MS = 60_000;
/** A sealed session is a few hundred bytes; anything much longer was not made here. */
const MAX_SEALED_LENGTH = 4096;
/** Admin tokens are far shorter; a longer one is refused at sign-in, before it reaches a cookie. */
export const MAX_ADMIN_TOKEN_LENGTH = 1024;

/** HKDF info of the session key: every replica derives the same key from the same master key. */
const SESSION_KEY_INFO = 'secrets-broker dashboard session v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from(SESSION_KEY_INFO);

function isSession(value: unknown): value is Session {
  if (value === null || typeof value !== 'object') return false;
  const session = value as Record<string, unknown>;
  return (
    typeof session.id === 'string' &&
    typeof session.token === 'string' &&
    session.token.length <= MAX_ADMIN_TOKEN_LENGTH &&
    Number.isSafeInteger(session.issuedAt) &&
    Number.isSafeInteger(session.expiresAt) &&
    Number.isSafeInteger(session.seenAt)
  );
}

/**
 * Seals sessions into cookie values with AES-256-GCM under a key derived from the master key, and opens them:
 * a cookie that was changed, made under another key or is past its absolute or idle end opens nothing.
 */
export class SessionSealer {
  private readonly key: Buffer;

  constructor(
    master: MasterKey,
    private readonly now: () => number = Date.now,
  ) {
    this.key = derivedKey(master, SESSION_KEY_INFO);
  }

  create(token: string): Session {
    const now = this.now();
    return {
      id: randomBytes(16).toString('base64url'),
      token,
      issuedAt: now,
      expiresAt: now + SESSION_LIFETIME_MS,
      seenAt: now,
    };
  }

  /** The same session, seen now (sealed again on every response, so idleness counts from the last request). */
  touch(session: Session): Session {
    return { ...session, seenAt: Math.max(session.seenAt, this.now()) };
  }

  seal(session: Session): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
    return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  open(sealed: string | undefined): { session: Session } | { ended: SessionEnd } {
    if (sealed === undefined || sealed === '') return { ended: 'none' };
    const session = this.unseal(sealed);
    if (session === undefined) return { ended: 'invalid' };
    const now = this.now();
    if (session.issuedAt > now + CLOCK_SKEW_MS || session.seenAt > now + CLOCK_SKEW_MS)
      return { ended: 'invalid' };
    if (now >= session.expiresAt) return { ended: 'expired' };
    if (now - session.seenAt >= IDLE_LIMIT_MS) return { ended: 'idle' };
    return { session };
  }

  private unseal(sealed: string): Session | undefined {
    if (sealed.length > MAX_SEALED_LENGTH || !/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined;
    const bytes = Buffer.from(sealed, 'base64url');
    if (bytes.length <= NONCE_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, NONCE_BYTES));
      decipher.setAAD(AAD);
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const text = Buffer.concat([
        decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
      const value: unknown = JSON.parse(text);
      return isSession(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }
}
