import type { Context } from 'hono';
import { printableJson } from '../../protocol/printable.js';
import { PROBLEM_TYPES } from '../../protocol/wire.js';
import type { BrokerError } from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem document for `error`. No stack, no cause: only the texts written for clients. */
export function problemResponse(c: Context, error: BrokerError, requestId: string): Response {
  const { status, title } = PROBLEM_TYPES[error.code];
  const body: Record<string, unknown> = {
    type: `urn:secrets-action:problem:${error.code}`,
    title,
    status,
    detail: error.message,
    code: error.code,
    request_id: requestId,
    ...(error.secrets === undefined ? {} : { secrets: error.secrets }),
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    ...error.extensions,
  };
  const retryAfter = error.extensions?.retry_after;
  // Clients print these texts: nothing in them may act on a terminal or a CI log, whoever wrote it.
  return c.body(printableJson(JSON.stringify(body)), status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    ...(typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {}),
  });
}
