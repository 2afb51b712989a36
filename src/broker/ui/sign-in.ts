import type { Hono, MiddlewareHandler } from 'hono';
import { BrokerError } from '../errors.js';
import { CsrfTokens, isSameOrigin } from './csrf.js';
import {
  adminContextOf,
  clearCookie,
  readCookie,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  writeSessionCookie,
  writeSignInCookie,
  type DashboardContext,
  type DashboardEnv,
} from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import type { EndedSessions } from './ended-sessions.js';
import { formField, readForm } from './form-body.js';
import { MAX_ADMIN_TOKEN_LENGTH, type SessionSealer } from './session.js';
import { auditSession } from './sign-in-audit.js';
import { endedMessage, signInPage } from './views/sign-in-view.js';

export const FIRST_VIEW = '/ui/secrets';
const CSRF_FIELD_LENGTH = 128;

export interface SessionTools {
  readonly sealer: SessionSealer;
  readonly csrf: CsrfTokens;
  /** Sessions signed out on this replica: their cookies, copied or not, open nothing here any more. */
  readonly ended: EndedSessions;
}

/** A POST from another origin (or a browser that hides where it came from) is refused before its form is read. */
export function checkSameOrigin(c: DashboardContext): void {
  const sameOrigin = isSameOrigin({
    origin: c.req.header('origin'),
    secFetchSite: c.req.header('sec-fetch-site'),
    host: c.req.header('host'),
  });
  if (!sameOrigin) {
    throw new BrokerError('forbidden', 'refused: this form was not sent from a page of this dashboard', {
      hint: 'open the dashboard at its own address and use its forms; a proxy in front of the broker must pass the Host header through',
    });
  }
}

function renderSignIn(
  c: DashboardContext,
  tools: SessionTools,
  status: 200 | 400 | 401 | 403,
  message?: { text: string; problem: boolean },
): Response | Promise<Response> {
  const nonce = tools.csrf.newNonce();
  writeSignInCookie(c, nonce);
  return c.html(signInPage(tools.csrf.forSignIn(nonce), message), status);
}

/** GET and POST /ui/sign-in, POST /ui/sign-out. */
export function registerSignIn(
  routes: Hono<DashboardEnv>,
  deps: DashboardDependencies,
  tools: SessionTools,
): void {
  routes.get('/sign-in', (c) => {
    const ended = endedMessage(c.req.query('ended'));
    return renderSignIn(c, tools, 200, ended === undefined ? undefined : { text: ended, problem: false });
  });

  routes.post('/sign-in', async (c) => {
    checkSameOrigin(c);
    const form = await readForm(c);
    const nonce = readCookie(c, SIGN_IN_COOKIE);
    if (
      nonce === undefined ||
      !CsrfTokens.matches(tools.csrf.forSignIn(nonce), formField(form, 'csrf', CSRF_FIELD_LENGTH))
    ) {
      return renderSignIn(c, tools, 403, {
        text: 'The sign-in form expired or was not sent from this dashboard: nothing was done. Sign in again with this form.',
        problem: true,
      });
    }
    const token = formField(form, 'token', MAX_ADMIN_TOKEN_LENGTH) ?? '';
    if (token === '') return renderSignIn(c, tools, 400, { text: 'Enter an admin token.', problem: true });
    const context = adminContextOf(c);
    const identity = await deps.admin.authenticate(token, context);
    if (identity === undefined) {
      await auditSession(deps, context, 'ui.sign-in', undefined, {
        code: 'unauthorized',
        reason: 'invalid token',
      });
      return renderSignIn(c, tools, 401, {
        text: 'That admin token is not valid: it is unknown or revoked. Nothing was signed in.',
        problem: true,
      });
    }
    await auditSession(deps, context, 'ui.sign-in', identity);
    writeSessionCookie(c, tools.sealer.seal(tools.sealer.create(token)));
    clearCookie(c, SIGN_IN_COOKIE);
    return c.redirect(FIRST_VIEW, 303);
  });

  routes.post('/sign-out', async (c) => {
    checkSameOrigin(c);
    const form = await readForm(c);
    const opened = tools.sealer.open(readCookie(c, SESSION_COOKIE));
    if ('session' in opened) {
      const { session } = opened;
      if (
        !CsrfTokens.matches(tools.csrf.forSession(session.id), formField(form, 'csrf', CSRF_FIELD_LENGTH))
      ) {
        throw new BrokerError('forbidden', 'refused: the sign-out form did not come from this session', {
          hint: 'use the Sign out button of the dashboard page',
        });
      }
      if (!tools.ended.isEnded(session)) {
        // Ended before the audit: a sign-out whose record cannot be written still ends the session.
        if (tools.ended.end(session)) {
          deps.logger.warn(
            { request_id: c.get('requestId') },
            'the dashboard remembers too many signed-out sessions: every session made on this replica until now has ended',
          );
        }
        const context = adminContextOf(c);
        const identity = await deps.admin.authenticate(session.token, context);
        await auditSession(deps, context, 'ui.sign-out', identity);
      }
    }
    clearCookie(c, SESSION_COOKIE);
    return c.redirect('/ui/sign-in?ended=signed-out', 303);
  });
}

/**
 * Every other dashboard route: the session cookie must open, must not be one signed out on this replica, and its
 * admin token must authenticate now (a revoked token ends the session at once, audited). The session is sealed
 * again with this request's time (idle expiry).
 */
export function requireSession(
  deps: DashboardDependencies,
  tools: SessionTools,
): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    const opened = tools.sealer.open(readCookie(c, SESSION_COOKIE));
    if ('ended' in opened) {
      if (opened.ended === 'none') return c.redirect('/ui/sign-in', 303);
      clearCookie(c, SESSION_COOKIE);
      return c.redirect(`/ui/sign-in?ended=${opened.ended}`, 303);
    }
    if (tools.ended.isEnded(opened.session)) {
      clearCookie(c, SESSION_COOKIE);
      return c.redirect('/ui/sign-in?ended=signed-out', 303);
    }
    const context = adminContextOf(c);
    const identity = await deps.admin.authenticate(opened.session.token, context);
    if (identity === undefined) {
      clearCookie(c, SESSION_COOKIE);
      await auditSession(deps, context, 'ui.session-ended', undefined, {
        code: 'unauthorized',
        reason: 'the session token no longer authenticates',
      });
      return c.redirect('/ui/sign-in?ended=revoked', 303);
    }
    const session = tools.sealer.touch(opened.session);
    writeSessionCookie(c, tools.sealer.seal(session));
    c.set('signedIn', {
      session,
      identity,
      viewer: { label: identity.label, role: identity.role, csrf: tools.csrf.forSession(session.id) },
    });
    await next();
  };
}
