import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AdminIdentity } from '../admin/admin-credentials.js';
import type { AdminContext } from '../admin/admin-service.js';
import type { BrokerEnv, RequestVariables } from '../http/request-context.js';
import type { Session } from './session.js';
import type { Viewer } from './views/layout.js';

/** A request whose session opened and whose admin token authenticated again just now. */
export interface SignedIn {
  readonly session: Session;
  readonly identity: AdminIdentity;
  readonly viewer: Viewer;
}

export type DashboardEnv = {
  Bindings: BrokerEnv['Bindings'];
  Variables: RequestVariables & { signedIn?: SignedIn };
};

export type DashboardContext = Context<DashboardEnv>;

export function adminContextOf(c: DashboardContext): AdminContext {
  return { requestId: c.get('requestId'), sourceIp: c.get('sourceIp') };
}

/** __Host- cookies: Secure, Path=/, no Domain, so no other host or path can set or shadow them. */
export const SESSION_COOKIE = 'secrets-ui-session';
export const SIGN_IN_COOKIE = 'secrets-ui-sign-in';
const SIGN_IN_NONCE_SECONDS = 3600;

const COOKIE_OPTIONS = {
  httpOnly: true,
  secure: true,
  sameSite: 'Strict',
  path: '/',
  prefix: 'host',
} as const;

export function readCookie(c: DashboardContext, name: string): string | undefined {
  return getCookie(c, name, 'host');
}

export function writeSessionCookie(c: DashboardContext, sealed: string): void {
  // No Max-Age: a session cookie ends with the browser too; the sealed session carries its own ends.
  setCookie(c, SESSION_COOKIE, sealed, COOKIE_OPTIONS);
}

export function writeSignInCookie(c: DashboardContext, nonce: string): void {
  setCookie(c, SIGN_IN_COOKIE, nonce, { ...COOKIE_OPTIONS, maxAge: SIGN_IN_NONCE_SECONDS });
}

export function clearCookie(c: DashboardContext, name: string): void {
  deleteCookie(c, name, COOKIE_OPTIONS);
}
