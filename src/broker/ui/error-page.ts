import type { ErrorHandler } from 'hono';
import type { Logger } from 'pino';
import { PROBLEM_TYPES } from '../../protocol/wire.js';
import { toBrokerError } from '../errors.js';
import type { DashboardEnv } from './dashboard-env.js';
import { errorContent, page, plainPage } from './views/layout.js';

/** Any failure under /ui as an HTML page: what went wrong, the hint, the request id; unexpected ones logged. */
export function dashboardErrorHandler(logger: Logger): ErrorHandler<DashboardEnv> {
  return (error, c) => {
    const requestId = c.get('requestId');
    const problem = toBrokerError(error, 'request', (event, detail) =>
      logger.error({ request_id: requestId, error: detail }, event),
    );
    const { status, title } = PROBLEM_TYPES[problem.code];
    const content = errorContent(problem.message, problem.hint, requestId);
    const signedIn = c.get('signedIn');
    const body =
      signedIn === undefined ? plainPage(title, content) : page({ title, viewer: signedIn.viewer, content });
    const retryAfter = problem.extensions?.retry_after;
    if (typeof retryAfter === 'number') c.header('retry-after', String(retryAfter));
    return c.html(body, status as 400);
  };
}
