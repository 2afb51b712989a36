import { Hono, type MiddlewareHandler } from 'hono';
import { EXCHANGE_PATH } from '../../protocol/wire.js';
import { quoted } from '../../protocol/quoted.js';
import { BrokerError } from '../errors.js';
import type { ExchangeService } from '../exchange/exchange-service.js';
import type { BrokerMetrics } from '../metrics.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import { addressBlock } from '../traffic/source-ip.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { problemResponse } from './problem.js';
import { readRequestBody } from './read-body.js';
import type { BrokerEnv } from './request-context.js';

export const MAX_EXCHANGE_BODY_BYTES = 64 * 1024;

export interface ExchangeRouteDependencies {
  readonly exchange: ExchangeService;
  readonly policy: PolicyHolder;
  readonly metrics: BrokerMetrics;
  /** Per source address (IPv6 per /64), before the body is read. */
  readonly sourceLimits: TokenBuckets;
}

/** POST /v1/exchange: limited per source, then a JSON body of bounded size handed to the exchange service. */
export function exchangeRoutes(deps: ExchangeRouteDependencies): Hono<BrokerEnv> {
  return new Hono<BrokerEnv>().post(EXCHANGE_PATH, perSourceLimit(deps), async (c) => {
    const contentType = c.req.header('content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      throw new BrokerError(
        'invalid_request',
        `the Content-Type is ${quoted(contentType)}; send application/json`,
      );
    }
    const body = await readRequestBody(c, MAX_EXCHANGE_BODY_BYTES, () => {
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
  });
}

/** Per source IP, before the body is read or anything is written: a flood costs almost nothing. */
function perSourceLimit(deps: ExchangeRouteDependencies): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
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
  };
}
