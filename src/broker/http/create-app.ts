import type { BlockList } from 'node:net';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { AdminService } from '../admin/admin-service.js';
import { adminRoutes } from './admin-routes.js';
import {
  exchangeRoutes,
  listRoutes,
  outputRoutes,
  type ExchangeRouteDependencies,
  type ListRouteDependencies,
  type OutputRouteDependencies,
} from './exchange-routes.js';
import type { BrokerEnv } from './request-context.js';
import { errorHandler, notFoundHandler, requestMiddleware } from './request-middleware.js';
import { statusRoutes, type StatusRouteDependencies } from './status-routes.js';

export { MAX_EXCHANGE_BODY_BYTES } from './exchange-routes.js';

export interface AppDependencies
  extends ExchangeRouteDependencies, ListRouteDependencies, OutputRouteDependencies, StatusRouteDependencies {
  readonly admin: AdminService;
  readonly logger: Logger;
  readonly trustedProxies: BlockList | undefined;
}

/**
 * The broker's HTTP API. Served by Node in production; `app.request()` drives the same app in memory (Node's
 * request and response are optional: see request-context.ts).
 */
export function createApp(deps: AppDependencies): Hono<BrokerEnv> {
  return new Hono<BrokerEnv>()
    .use('*', requestMiddleware(deps.trustedProxies))
    .onError(errorHandler(deps.logger))
    .notFound(notFoundHandler)
    .route('/', exchangeRoutes(deps))
    .route('/', listRoutes(deps))
    .route('/', outputRoutes(deps))
    .route('/', statusRoutes(deps))
    .route('/v1/admin', adminRoutes(deps.admin));
}
