import { performance } from 'node:perf_hooks';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import {
  EXCHANGE_PATH,
  exchangeRequestSchema,
  LIST_PATH,
  listRequestSchema,
  type ExchangeRequest,
  type ListRequest,
} from '../../protocol/wire.js';
import { quoted } from '../../protocol/quoted.js';
import { BrokerError, toBrokerError } from '../errors.js';
import {
  exchangeOutcome,
  type ExchangeService,
  type IncomingExchange,
  type RefusedExchange,
} from '../exchange/exchange-service.js';
import type { IncomingList, ListService } from '../exchange/list-service.js';
import type { RefusedRequest } from '../exchange/workload-request.js';
import type { BrokerMetrics } from '../metrics.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import { addressBlock } from '../traffic/source-ip.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { bearerCredential } from './bearer.js';
import { readRequestBody } from './read-body.js';
import type { BrokerEnv } from './request-context.js';

export const MAX_EXCHANGE_BODY_BYTES = 64 * 1024;

/** What the routes of a workload's requests (exchange, list) share. */
interface WorkloadRouteDependencies {
  readonly policy: PolicyHolder;
  /** Per source address (IPv6 per /64), before the body is read: one budget for exchanges and lists. */
  readonly sourceLimits: TokenBuckets;
}

export interface ExchangeRouteDependencies extends WorkloadRouteDependencies {
  readonly exchange: ExchangeService;
  readonly metrics: BrokerMetrics;
}

export interface ListRouteDependencies extends WorkloadRouteDependencies {
  readonly list: ListService;
  readonly metrics: BrokerMetrics;
}

const EXCHANGE_BODY_SHAPE = '{"recipient": "<base64 X25519 public key>", "secrets": ["NAME", ...]}';
const LIST_BODY_SHAPE = '{} (everything this workload may read), or {"secrets": ["NAME or pattern", ...]}';

/**
 * POST /v1/exchange: counted, limited per source, then a JSON body of bounded size read into the typed request
 * the exchange service runs (or the refusal it audits).
 */
export function exchangeRoutes(deps: ExchangeRouteDependencies): Hono<BrokerEnv> {
  return new Hono<BrokerEnv>().post(
    EXCHANGE_PATH,
    exchangeMetrics(deps.metrics),
    perSourceLimit(deps),
    async (c) => c.json(await deps.exchange.exchange(exchangeRequestOf(c, await jsonBody(c)))),
  );
}

/**
 * POST /v1/list: limited per source like an exchange (and within the same budget), then a JSON body of bounded
 * size read into the list request the list service runs (or the refusal it audits).
 */
export function listRoutes(deps: ListRouteDependencies): Hono<BrokerEnv> {
  return new Hono<BrokerEnv>().post(LIST_PATH, listMetrics(deps.metrics), perSourceLimit(deps), async (c) =>
    c.json(await deps.list.list(listRequestOf(c, await jsonBody(c)))),
  );
}

/** The body of a JSON request, refused for another Content-Type or beyond MAX_EXCHANGE_BODY_BYTES. */
async function jsonBody(c: Context<BrokerEnv>): Promise<string> {
  const contentType = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new BrokerError(
      'invalid_request',
      `the Content-Type is ${quoted(contentType)}; send application/json`,
    );
  }
  return readRequestBody(c, MAX_EXCHANGE_BODY_BYTES, bodyTooLarge);
}

/** The one place exchanges are counted and timed, by the problem they answered (or none): every refusal included. */
function exchangeMetrics(metrics: BrokerMetrics): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    // Hono hands what a later handler threw to the app's error handler (which logs it) and keeps it here.
    const failure = c.error === undefined ? undefined : toBrokerError(c.error, 'exchange');
    const outcome = exchangeOutcome(failure);
    metrics.exchanges.inc({ outcome, code: failure?.code ?? 'ok' });
    metrics.exchangeSeconds.observe({ outcome }, (performance.now() - started) / 1000);
  };
}

/** List requests counted by the problem they answered (or none), like exchanges. */
function listMetrics(metrics: BrokerMetrics): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    await next();
    const failure = c.error === undefined ? undefined : toBrokerError(c.error, 'request');
    metrics.listRequests.inc({ outcome: exchangeOutcome(failure), code: failure?.code ?? 'ok' });
  };
}

/** Per source IP, before the body is read or anything is written: a flood costs almost nothing. */
function perSourceLimit(deps: WorkloadRouteDependencies): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    const wait = deps.sourceLimits.take(
      addressBlock(c.get('sourceIp')),
      deps.policy.current.limits.perSourceIp,
    );
    if (wait > 0) {
      throw new BrokerError(
        'rate_limited',
        `too many requests from ${c.get('sourceIp')}; retry in ${wait} s`,
        {
          hint: 'clients retry after the Retry-After delay; an admin can raise limits.per_source_ip in the policy',
          extensions: { retry_after: wait },
        },
      );
    }
    await next();
  };
}

function bodyTooLarge(): BrokerError {
  return new BrokerError(
    'payload_too_large',
    `the request body is larger than ${MAX_EXCHANGE_BODY_BYTES} bytes`,
    { hint: 'request fewer secrets per exchange, or use a pattern entry such as "prod/api/*"' },
  );
}

/**
 * The request the exchange service runs, or the refusal it audits: the token is looked for first, then the
 * body is parsed with the wire schema.
 */
function exchangeRequestOf(c: Context<BrokerEnv>, body: string): IncomingExchange | RefusedExchange {
  const context = { requestId: c.get('requestId'), sourceIp: c.get('sourceIp') };
  const token = bearerCredential(c);
  if (token === undefined) return { ...context, token, problem: missingToken() };
  const parsed = parseBody(body, exchangeRequestSchema, EXCHANGE_BODY_SHAPE);
  if (parsed instanceof BrokerError) return { ...context, token, problem: parsed };
  return {
    ...context,
    token,
    recipient: Buffer.from(parsed.recipient, 'base64'),
    secrets: parsed.secrets,
  };
}

/** The list request the list service runs, or the refusal it audits: the token first, then the body. */
function listRequestOf(c: Context<BrokerEnv>, body: string): IncomingList | RefusedRequest {
  const context = { requestId: c.get('requestId'), sourceIp: c.get('sourceIp') };
  const token = bearerCredential(c);
  if (token === undefined) return { ...context, token, problem: missingToken() };
  const parsed = parseBody<ListRequest>(body, listRequestSchema, LIST_BODY_SHAPE);
  if (parsed instanceof BrokerError) return { ...context, token, problem: parsed };
  return { ...context, token, secrets: parsed.secrets };
}

function missingToken(): BrokerError {
  return new BrokerError(
    'invalid_token',
    'the request has no "Authorization: Bearer <OIDC ID token>" header',
    {
      hint: 'on GitHub, give the job "permissions: id-token: write"; on GitLab, declare id_tokens with this broker\'s audience',
    },
  );
}

/** The body as the wire schema describes it, or the problem that names everything wrong with it. */
function parseBody<Request extends ExchangeRequest | ListRequest>(
  body: string,
  schema: z.ZodType<Request>,
  shape: string,
): Request | BrokerError {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return new BrokerError('invalid_request', 'the request body is not JSON', {
      hint: `send ${shape} with Content-Type: application/json`,
    });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys')
      return `unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
    const where = issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
    return `${where}: ${issue.message}`;
  });
  return new BrokerError('invalid_request', `the request body is not valid: ${problems.join('; ')}`, {
    hint: `send ${shape}`,
  });
}
