import { performance } from 'node:perf_hooks';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import {
  EXCHANGE_PATH,
  exchangeRequestSchema,
  LIST_PATH,
  listRequestSchema,
  OUTPUTS_PATH,
  outputsRequestSchema,
  type ListRequest,
} from '../../protocol/wire.js';
import { quoted } from '../../protocol/quoted.js';
import { KEY_PROOF_HEADER, KEY_PROOF_HEADER_NAME, parseKeyProofHeader } from '../../protocol/key-binding.js';
import type { KeyProofHeader } from '../exchange/key-binding-check.js';
import { BrokerError, toBrokerError } from '../errors.js';
import {
  exchangeOutcome,
  type ExchangeService,
  type IncomingExchange,
  type RefusedExchange,
} from '../exchange/exchange-service.js';
import type { IncomingList, ListService } from '../exchange/list-service.js';
import type { IncomingOutputs, OutputService } from '../exchange/output-service.js';
import type { RefusedRequest } from '../exchange/workload-request.js';
import type { BrokerMetrics } from '../metrics.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import { addressBlock } from '../traffic/source-ip.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { bearerCredential } from './bearer.js';
import { readRequestBody } from './read-body.js';
import type { BrokerEnv } from './request-context.js';

export const MAX_EXCHANGE_BODY_BYTES = 64 * 1024;
/** A put of outputs carries sealed values (up to 64 KiB each), not names: a larger bound. */
export const MAX_OUTPUTS_BODY_BYTES = 1024 * 1024;

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

export interface OutputRouteDependencies extends WorkloadRouteDependencies {
  readonly outputs: OutputService;
  readonly metrics: BrokerMetrics;
}

const OUTPUTS_BODY_SHAPE =
  '{"outputs": [{"name": "NAME", "sealed": "<base64 crypto_box_seal of the JSON {name, value} to run_output_key>", "ttl"?: "6h"}, ...]}';
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

/**
 * POST /v1/outputs: limited per source like an exchange (and within the same budget), then a JSON body of at most
 * MAX_OUTPUTS_BODY_BYTES read into the put the output service runs (or the refusal it audits).
 */
export function outputRoutes(deps: OutputRouteDependencies): Hono<BrokerEnv> {
  return new Hono<BrokerEnv>().post(
    OUTPUTS_PATH,
    outputMetrics(deps.metrics),
    perSourceLimit(deps),
    async (c) =>
      c.json(await deps.outputs.put(outputsRequestOf(c, await jsonBody(c, MAX_OUTPUTS_BODY_BYTES)))),
  );
}

/** The body of a JSON request, refused for another Content-Type or beyond `maxBytes`. */
async function jsonBody(c: Context<BrokerEnv>, maxBytes = MAX_EXCHANGE_BODY_BYTES): Promise<string> {
  const contentType = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new BrokerError(
      'invalid_request',
      `the Content-Type is ${quoted(contentType)}; send application/json`,
    );
  }
  return readRequestBody(c, maxBytes, () => bodyTooLarge(maxBytes));
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

/** Puts of outputs counted by the problem they answered (or none), like exchanges. */
function outputMetrics(metrics: BrokerMetrics): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    await next();
    const failure = c.error === undefined ? undefined : toBrokerError(c.error, 'request');
    metrics.outputPuts.inc({ outcome: exchangeOutcome(failure), code: failure?.code ?? 'ok' });
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

function bodyTooLarge(maxBytes: number): BrokerError {
  return new BrokerError('payload_too_large', `the request body is larger than ${maxBytes} bytes`, {
    hint:
      maxBytes === MAX_EXCHANGE_BODY_BYTES
        ? 'request fewer secrets per exchange, or use a pattern entry such as "prod/api/*"'
        : 'put fewer or smaller outputs per request',
  });
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
  const keyProof = keyProofOf(c, LIST_PATH, body);
  if (keyProof instanceof BrokerError) return { ...context, token, problem: keyProof };
  return { ...context, token, secrets: parsed.secrets, keyProof };
}

/** The put the output service runs, or the refusal it audits: the token first, then the body. */
function outputsRequestOf(c: Context<BrokerEnv>, body: string): IncomingOutputs | RefusedRequest {
  const context = { requestId: c.get('requestId'), sourceIp: c.get('sourceIp') };
  const token = bearerCredential(c);
  if (token === undefined) return { ...context, token, problem: missingToken() };
  const parsed = parseBody(body, outputsRequestSchema, OUTPUTS_BODY_SHAPE);
  if (parsed instanceof BrokerError) return { ...context, token, problem: parsed };
  const keyProof = keyProofOf(c, OUTPUTS_PATH, body);
  if (keyProof instanceof BrokerError) return { ...context, token, problem: keyProof };
  return {
    ...context,
    token,
    keyProof,
    outputs: parsed.outputs.map((output) => ({
      name: output.name,
      sealed: Buffer.from(output.sealed, 'base64'),
      ttlSeconds: output.ttl,
    })),
  };
}

/** The Secrets-Key-Proof header of a list or put, with what it covers; a malformed one is refused. */
function keyProofOf(
  c: Context<BrokerEnv>,
  path: string,
  body: string,
): KeyProofHeader | BrokerError | undefined {
  const header = c.req.header(KEY_PROOF_HEADER);
  if (header === undefined) return undefined;
  const parsed = parseKeyProofHeader(header);
  if (parsed === undefined)
    return new BrokerError(
      'invalid_request',
      `the ${KEY_PROOF_HEADER_NAME} header is not "<base64 X25519 public key> <base64 HMAC-SHA256>"`,
      {
        hint: 'send the header as the clients do (docs/protocol.md "Key binding"), or leave it out for an unbound token',
      },
    );
  return { ...parsed, path, body };
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
function parseBody<Request>(
  body: string,
  schema: z.ZodType<Request, unknown>,
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
