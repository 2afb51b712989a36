import type { BlockList } from 'node:net';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { EXCHANGE_PATH } from '../../protocol/wire.js';
import { BrokerError } from '../errors.js';
import type { ExchangeService } from '../exchange/exchange-service.js';
import type { BrokerMetrics } from '../metrics.js';
import type { TokenVerifier } from '../oidc/token-verifier.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { Stores } from '../store/interfaces.js';
import type { AdminService } from '../admin/admin-service.js';
import { adminRoutes } from './admin-routes.js';
import { problemResponse } from './problem.js';
import { rawPathProblem } from './raw-path.js';
import { readBodyText } from './read-body.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { newRequestId, sourceIpOf, type BrokerEnv } from './request-context.js';
import { addressBlock } from '../traffic/source-ip.js';
import { quoted } from '../../protocol/quoted.js';

export const MAX_EXCHANGE_BODY_BYTES = 64 * 1024;

export interface AppDependencies {
  readonly exchange: ExchangeService;
  readonly admin: AdminService;
  readonly policy: PolicyHolder;
  readonly verifier: TokenVerifier;
  readonly stores: Stores;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly version: string;
  /** Per source address (IPv6 per /64), before the body is read. */
  readonly sourceLimits: TokenBuckets;
  readonly trustedProxies: BlockList | undefined;
}

export function createApp(deps: AppDependencies): Hono<BrokerEnv> {
  const app = new Hono<BrokerEnv>();

  app.use('*', async (c, next) => {
    c.set('requestId', newRequestId());
    c.set('sourceIp', sourceIpOf(c, deps.trustedProxies));
    // On Node's response, where they join whatever Hono answers (handler, error or not-found) at writeHead;
    // through c.header() every response would also carry a web Headers object, which costs on the hot path.
    const outgoing = c.env.outgoing;
    outgoing.setHeader('x-request-id', c.get('requestId'));
    outgoing.setHeader('cache-control', 'no-store');
    outgoing.setHeader('x-content-type-options', 'nosniff');
    const pathProblem = rawPathProblem(c.env.incoming.url ?? '');
    if (pathProblem !== undefined) {
      throw new BrokerError('invalid_request', `${pathProblem}; nothing was done`, {
        hint: 'send the path as the API documents it: secret names have no "." or ".." segments',
      });
    }
    await next();
  });

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? newRequestId();
    if (error instanceof BrokerError) return problemResponse(c, error, requestId);
    deps.logger.error(
      { request_id: requestId, error: `${error.name}: ${error.message}` },
      'request failed unexpectedly',
    );
    return problemResponse(c, new BrokerError('internal', 'the broker failed unexpectedly'), requestId);
  });

  app.notFound((c) =>
    problemResponse(
      c,
      new BrokerError('not_found', `no such endpoint: ${c.req.method} ${c.req.path}`),
      c.get('requestId'),
    ),
  );

  app.post(
    EXCHANGE_PATH,
    async (c, next) => {
      // Per source IP, before the body is read or anything is written: a flood costs almost nothing.
      const wait = deps.sourceLimits.take(
        addressBlock(c.get('sourceIp')),
        deps.policy.current.limits.perSourceIp,
      );
      if (wait === 0) return next();
      deps.metrics.exchanges.inc({ outcome: 'denied', code: 'rate_limited' });
      return problemResponse(
        c,
        new BrokerError('rate_limited', `too many requests from ${c.get('sourceIp')}; retry in ${wait} s`, {
          hint: 'clients retry after the Retry-After delay; an admin can raise limits.per_source_ip in the policy',
          extensions: { retry_after: wait },
        }),
        c.get('requestId'),
      );
    },
    async (c) => {
      const contentType = c.req.header('content-type') ?? '';
      if (!/^application\/json\s*(;|$)/i.test(contentType)) {
        throw new BrokerError(
          'invalid_request',
          `the Content-Type is ${quoted(contentType)}; send application/json`,
        );
      }
      const body = await readBodyText(c.env.incoming, MAX_EXCHANGE_BODY_BYTES, () => {
        deps.metrics.exchanges.inc({ outcome: 'denied', code: 'payload_too_large' });
        return new BrokerError(
          'payload_too_large',
          `the request body is larger than ${MAX_EXCHANGE_BODY_BYTES} bytes`,
          { hint: 'request fewer secrets per exchange, or use a pattern entry such as "prod/api/*"' },
        );
      });
      const response = await deps.exchange.exchange(c.req.header('authorization'), body, {
        requestId: c.get('requestId'),
        sourceIp: c.get('sourceIp'),
      });
      return c.json(response);
    },
  );

  app.get('/v1/info', (c) => {
    const policy = deps.policy.current;
    return c.json({
      service: 'secrets-broker',
      version: deps.version,
      protocol: 1,
      audience: policy.audience,
      issuers: [...policy.issuers.values()].map((issuer) => ({ name: issuer.name, url: issuer.url })),
    });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const issuers = deps.verifier.keyStatus().map((status) => ({
      issuer: status.issuer,
      loaded: status.loaded,
      key_count: status.keyCount,
      fetched_at: status.fetchedAt ?? null,
      last_error: status.lastError ?? null,
    }));
    try {
      await deps.stores.ping();
    } catch (error) {
      return c.json({ status: 'unavailable', store: (error as Error).message, issuers }, 503);
    }
    return c.json({ status: 'ready', store: 'ok', policy: deps.policy.current.source, issuers });
  });

  app.get('/metrics', async (c) =>
    c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }),
  );

  app.route('/v1/admin', adminRoutes(deps.admin));
  return app;
}
