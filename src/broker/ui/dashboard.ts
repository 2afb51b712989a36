import { Hono } from 'hono';
import type { BrokerEnv } from '../http/request-context.js';
import { auditPage, chainPage } from './audit-page.js';
import { CsrfTokens } from './csrf.js';
import type { DashboardContext, DashboardEnv, SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { EndedSessions } from './ended-sessions.js';
import { dashboardErrorHandler } from './error-page.js';
import { explainFormPage, explainResultPage } from './explain-page.js';
import { healthPage } from './health-page.js';
import { matrixPage } from './matrix-page.js';
import { secretsPage } from './secrets-page.js';
import { securityHeaders } from './security-headers.js';
import { SessionSealer } from './session.js';
import { FIRST_VIEW, registerSignIn, requireSession } from './sign-in.js';
import { DASHBOARD_CSS } from './static/dashboard-css.js';
import type { Html } from './views/html.js';
import { errorContent, page, type ViewPath, VIEWS } from './views/layout.js';

export const DASHBOARD_PATH = '/ui';

type ViewContent = (
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
) => Html | Promise<Html>;

function signedInOf(c: DashboardContext): SignedIn {
  const signedIn = c.get('signedIn');
  // requireSession runs before every view: a view without a session is a wiring bug, refused.
  if (signedIn === undefined) throw new Error('a dashboard view ran without a session');
  return signedIn;
}

/**
 * The read-only dashboard under /ui (mounted only when enabled with --ui / SECRETS_BROKER_UI=true). Sign-in and the
 * stylesheet are open; every view needs a session whose admin token authenticates now. GET never changes anything;
 * the only POSTs are sign-in, sign-out and explain, each with a CSRF token and a same-origin check.
 */
export function dashboardRoutes(deps: DashboardDependencies): Hono<DashboardEnv> {
  const now = deps.now ?? Date.now;
  const tools = {
    sealer: new SessionSealer(deps.masterKey, now),
    csrf: new CsrfTokens(deps.masterKey),
    ended: new EndedSessions(now),
  };
  const ui = new Hono<DashboardEnv>();
  ui.use('*', securityHeaders);
  ui.onError(dashboardErrorHandler(deps.logger));
  ui.get('/static/dashboard.css', (c) =>
    c.body(DASHBOARD_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );
  registerSignIn(ui, deps, tools);
  ui.use('*', requireSession(deps, tools));
  ui.get('/', (c) => c.redirect(FIRST_VIEW, 303));

  const view = (path: ViewPath, content: ViewContent): void => {
    const title = VIEWS.find((known) => known.path === path)?.title ?? '';
    ui.get(path.slice(DASHBOARD_PATH.length), async (c) => {
      const signedIn = signedInOf(c);
      return c.html(
        page({ title, current: path, viewer: signedIn.viewer, content: await content(c, deps, signedIn) }),
      );
    });
  };
  view('/ui/secrets', secretsPage);
  view('/ui/matrix', matrixPage);
  view('/ui/explain', (_c, _deps, signedIn) => explainFormPage(signedIn));
  view('/ui/audit', auditPage);
  view('/ui/health', healthPage);
  ui.get('/audit/chain', async (c) => {
    const signedIn = signedInOf(c);
    const content = await chainPage(c, deps, signedIn);
    return c.html(page({ title: 'Audit chain', current: '/ui/audit', viewer: signedIn.viewer, content }));
  });
  ui.post('/explain', async (c) => {
    const signedIn = signedInOf(c);
    const content = await explainResultPage(c, deps, signedIn);
    return c.html(page({ title: 'Explain', current: '/ui/explain', viewer: signedIn.viewer, content }));
  });
  ui.all('*', (c) => {
    if (c.req.method === 'GET' && c.req.path === `${DASHBOARD_PATH}/`) return c.redirect(FIRST_VIEW, 303);
    const signedIn = signedInOf(c);
    const content = errorContent(
      `no such page: ${c.req.method} ${c.req.path}`,
      'use the links above',
      c.get('requestId'),
    );
    return c.html(page({ title: 'Not found', viewer: signedIn.viewer, content }), 404);
  });
  return ui;
}

/** Serves the dashboard under /ui on the broker's app (before it serves its first request). */
export function mountDashboard(app: Hono<BrokerEnv>, deps: DashboardDependencies): void {
  app.route(DASHBOARD_PATH, dashboardRoutes(deps));
}
