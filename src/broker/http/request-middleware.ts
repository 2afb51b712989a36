import type { BlockList } from 'node:net';
import type { ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import type { Logger } from 'pino';
import { BrokerError, toBrokerError } from '../errors.js';
import { problemResponse } from './problem.js';
import { rawPathProblem } from './raw-path.js';
import {
  newRequestId,
  requestTargetOf,
  setResponseHeader,
  sourceIpOf,
  type BrokerEnv,
} from './request-context.js';

/** First on every request: names it, finds its source, sets the headers every answer carries, checks its path. */
export function requestMiddleware(trustedProxies: BlockList | undefined): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    c.set('requestId', newRequestId());
    c.set('sourceIp', sourceIpOf(c, trustedProxies));
    setResponseHeader(c, 'x-request-id', c.get('requestId'));
    setResponseHeader(c, 'cache-control', 'no-store');
    setResponseHeader(c, 'x-content-type-options', 'nosniff');
    const pathProblem = rawPathProblem(requestTargetOf(c));
    if (pathProblem !== undefined) {
      throw new BrokerError('invalid_request', `${pathProblem}; nothing was done`, {
        hint: 'send the path as the API documents it: secret names have no "." or ".." segments',
      });
    }
    await next();
  };
}

/** Every failure answers with its problem document, through the one translation; unexpected ones are logged. */
export function errorHandler(logger: Logger): ErrorHandler<BrokerEnv> {
  return (error, c) => {
    const requestId = c.get('requestId') ?? newRequestId();
    const problem = toBrokerError(error, 'request', (event, detail) =>
      logger.error({ request_id: requestId, error: detail }, event),
    );
    return problemResponse(c, problem, requestId);
  };
}

export const notFoundHandler: NotFoundHandler<BrokerEnv> = (c) =>
  problemResponse(
    c,
    new BrokerError('not_found', `no such endpoint: ${c.req.method} ${c.req.path}`),
    c.get('requestId'),
  );
