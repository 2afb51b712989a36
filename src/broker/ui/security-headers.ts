import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { DashboardEnv } from './dashboard-env.js';

/**
 * No script at all (charts are SVG drawn on the server), styles and images only from the dashboard itself, forms
 * only to it, never in a frame.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

/** Sets the dashboard's headers on every answer under /ui: pages, redirects, errors and the stylesheet. */
export const securityHeaders: MiddlewareHandler<DashboardEnv> = async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(HEADERS)) c.res.headers.set(name, value);
};

/**
 * The same headers on Node's response to every request whose raw path starts with /ui, set before the app runs.
 * Some never reach the dashboard: a path with dot segments is refused before routing, one with a backslash by the
 * HTTP adapter itself; their refusals carry the headers too. (Node merges these with the answer's own.)
 */
export function dashboardHeadersBeforeRouting(incoming: IncomingMessage, outgoing: ServerResponse): void {
  if (incoming.url?.startsWith('/ui') !== true) return;
  for (const [name, value] of Object.entries(HEADERS)) outgoing.setHeader(name, value);
}
