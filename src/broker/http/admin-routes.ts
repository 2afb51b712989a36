import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  AUDIT_QUERY_PARAMETERS,
  createTokenRequestSchema,
  DEFAULT_AUDIT_PAGE,
  explainRequestSchema,
  type ExplainRequest,
  MAX_AUDIT_PAGE,
  MAX_ROTATION_BATCH,
  rollbackSecretRequestSchema,
  outputKeyRotateRequestSchema,
  rotationBatchRequestSchema,
  setSecretRequestSchema,
  updateSecretRequestSchema,
} from '../../protocol/admin-api.js';
import { BrokerError } from '../errors.js';
import { bearerCredential } from './bearer.js';
import type { BrokerEnv } from './request-context.js';
import { readRequestBody } from './read-body.js';
import type {
  AdminContext,
  AdminService,
  AuditQuery,
  OutputKeyRotateRequest,
  SecretRollback,
  SecretUpdate,
  SecretWrite,
} from '../admin/admin-service.js';
import { MAX_SECRET_VALUE_BYTES } from '../store/secret-vault.js';
import { CHAIN_HEAD_EXAMPLE, parseChainHead, type ChainHead } from '../audit/audit-chain.js';

function isoTime(text: string | undefined, name: string): string | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (Number.isNaN(time))
    throw new BrokerError('invalid_request', `"${name}" must be a time such as 2026-11-22T10:00:00Z`);
  return new Date(time).toISOString();
}

function wholeNumber(text: string, name: string, min = 0, max = 999_999_999): number {
  const value = Number(text);
  if (!/^\d{1,9}$/.test(text) || value < min || value > max) {
    throw new BrokerError(
      'invalid_request',
      `"${name}" must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** One of `allowed`, or undefined when not given. */
function oneOf<T extends string>(
  text: string | undefined,
  name: string,
  allowed: readonly T[],
): T | undefined {
  if (text === undefined || (allowed as readonly string[]).includes(text)) return text as T | undefined;
  throw new BrokerError(
    'invalid_request',
    `"${name}" must be one of ${allowed.join(', ')}, not ${JSON.stringify(text)}`,
  );
}

/** A misspelt query parameter would otherwise be ignored and widen the answer: refuse any this route does not take. */
function onlyParameters(c: Context<BrokerEnv>, known: readonly string[]): void {
  const unknown = Object.keys(c.req.queries()).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new BrokerError(
      'invalid_request',
      `unknown query parameter ${unknown.map((name) => JSON.stringify(name)).join(', ')}`,
      { hint: `this endpoint takes ${known.join(', ')}` },
    );
  }
}

const MAX_HEADS = 64;

/** `head=SEQ:HASH` query parameters: chain heads the broker published in its log. */
function publishedHeads(values: readonly string[]): ChainHead[] {
  if (values.length > MAX_HEADS)
    throw new BrokerError('invalid_request', `at most ${MAX_HEADS} "head" parameters, not ${values.length}`);
  return values.map((value) => {
    const head = parseChainHead(value);
    if (head === undefined) {
      throw new BrokerError(
        'invalid_request',
        '"head" must be SEQ:HASH, as the broker logs it in audit_chain_head',
        { hint: `for example ${CHAIN_HEAD_EXAMPLE}` },
      );
    }
    return head;
  });
}

interface BodyLimit {
  readonly bytes: number;
  readonly hint: string;
}

/** Every admin body but a secret's value is small: claims, a token, a label. */
const ADMIN_BODY: BodyLimit = { bytes: 64 * 1024, hint: 'send only the fields this endpoint takes' };
/** A value of the largest size, with room for JSON escaping and the other fields. */
const SECRET_BODY: BodyLimit = {
  bytes: MAX_SECRET_VALUE_BYTES * 2 + 1024,
  hint: `a secret value holds at most ${MAX_SECRET_VALUE_BYTES} bytes`,
};

async function jsonBody(c: Context<BrokerEnv>, limit: BodyLimit = ADMIN_BODY): Promise<unknown> {
  const text = await readRequestBody(
    c,
    limit.bytes,
    () =>
      new BrokerError('payload_too_large', `the request body is larger than ${limit.bytes} bytes`, {
        hint: limit.hint,
      }),
  );
  try {
    return JSON.parse(text);
  } catch {
    throw new BrokerError('invalid_request', 'the body is not JSON');
  }
}

/** The body parsed with its admin API schema; `shape` says what was expected when it does not fit. */
async function bodyOf<S extends z.ZodType>(
  c: Context<BrokerEnv>,
  schema: S,
  shape: string,
  limit?: BodyLimit,
): Promise<z.infer<S>> {
  const parsed = schema.safeParse(await jsonBody(c, limit));
  if (!parsed.success) throw new BrokerError('invalid_request', `the body must be ${shape}`);
  return parsed.data;
}

// What each route reads from its request, called by the admin service once the caller may do the operation.

function secretPrefix(c: Context<BrokerEnv>): string {
  onlyParameters(c, ['prefix']);
  return c.req.query('prefix') ?? '';
}

const CONDITIONS_SHAPE =
  '{"expires_at"?, "max_reads"?: {"count", "period_seconds"}, "rotate_after_reads"?, "description"?, "owner"?} (null clears one)';

async function secretWrite(c: Context<BrokerEnv>): Promise<SecretWrite> {
  const body = await bodyOf(
    c,
    setSecretRequestSchema,
    `{"value": string, "dry_run"?: boolean, "conditions"?: ${CONDITIONS_SHAPE}}`,
    SECRET_BODY,
  );
  return {
    name: c.req.param('name') ?? '',
    value: body.value,
    dryRun: body.dry_run ?? false,
    ...(body.conditions === undefined ? {} : { conditions: body.conditions }),
  };
}

async function secretUpdate(c: Context<BrokerEnv>): Promise<SecretUpdate> {
  const body = await bodyOf(c, updateSecretRequestSchema, `{"conditions": ${CONDITIONS_SHAPE}}`);
  return { name: c.req.param('name') ?? '', conditions: body.conditions };
}

async function secretRollback(c: Context<BrokerEnv>): Promise<SecretRollback> {
  const body = await bodyOf(c, rollbackSecretRequestSchema, '{"to": version number}');
  return { name: c.req.param('name') ?? '', to: body.to };
}

/** `?purge=true` destroys the kept versions too; nothing else is taken. */
function purgeAsked(c: Context<BrokerEnv>): boolean {
  onlyParameters(c, ['purge']);
  return oneOf(c.req.query('purge'), 'purge', ['true', 'false'] as const) === 'true';
}

function auditQuery(c: Context<BrokerEnv>): AuditQuery {
  onlyParameters(c, AUDIT_QUERY_PARAMETERS);
  const query = (name: (typeof AUDIT_QUERY_PARAMETERS)[number]): string | undefined =>
    c.req.query(name) || undefined;
  const filter = {
    since: isoTime(query('since'), 'since'),
    until: isoTime(query('until'), 'until'),
    kind: oneOf(query('kind'), 'kind', AUDIT_KINDS),
    outcome: oneOf(query('outcome'), 'outcome', AUDIT_OUTCOMES),
    repository: query('repository'),
    secret: query('secret'),
    rule: query('rule'),
    requestId: query('request_id'),
  };
  const after = wholeNumber(query('after') ?? '0', 'after');
  const pageSize = wholeNumber(query('limit') ?? String(DEFAULT_AUDIT_PAGE), 'limit', 1, MAX_AUDIT_PAGE);
  return { filter, after, pageSize };
}

function verifiedHeads(c: Context<BrokerEnv>): ChainHead[] {
  onlyParameters(c, ['head']);
  return publishedHeads(c.req.queries('head') ?? []);
}

const EXPLAIN_SHAPE = '{"claims": {...}} or {"token": "JWT"}, with "secrets": [names] optional';

async function explainRequest(c: Context<BrokerEnv>): Promise<ExplainRequest> {
  const body = await bodyOf(c, explainRequestSchema, EXPLAIN_SHAPE);
  if ((body.claims === undefined) === (body.token === undefined))
    throw new BrokerError('invalid_request', `the body must be ${EXPLAIN_SHAPE}`);
  return body;
}

/** A rotation's body (`{}` or `{"drop_old": true}`); dropping alone takes no body. */
async function outputKeyRotation(c: Context<BrokerEnv>, rotate: boolean): Promise<OutputKeyRotateRequest> {
  if (!rotate) return { rotate, drop_old: true };
  const body = await bodyOf(c, outputKeyRotateRequestSchema, '{} or {"drop_old": true}');
  return { rotate, drop_old: body.drop_old === true };
}

async function rotationBatch(c: Context<BrokerEnv>): Promise<{ targetKeyId: string; size: number }> {
  const shape = `{"target_key_id": string, "size": 1..${MAX_ROTATION_BATCH}}`;
  const body = await bodyOf(c, rotationBatchRequestSchema, shape);
  return { targetKeyId: body.target_key_id, size: body.size };
}

/**
 * The admin API under /v1/admin. Values go in through it and never come out. Each route authenticates the
 * caller and hands it to one AdminService operation, which decides whether the caller's role may do it before
 * the route's request (query or body) is read.
 */
export function adminRoutes(admin: AdminService): Hono<BrokerEnv> {
  const routes = new Hono<BrokerEnv>();
  const contextOf = (c: Context<BrokerEnv>): AdminContext => ({
    requestId: c.get('requestId'),
    sourceIp: c.get('sourceIp'),
  });
  const callerOf = (c: Context<BrokerEnv>) => admin.authenticate(bearerCredential(c), contextOf(c));

  routes.get('/whoami', async (c) => c.json(await admin.whoami(await callerOf(c), contextOf(c))));
  routes.get('/secrets', async (c) =>
    c.json({ secrets: await admin.listSecrets(await callerOf(c), () => secretPrefix(c), contextOf(c)) }),
  );
  routes.put('/secrets/:name{.+}', async (c) => {
    const result = await admin.setSecret(await callerOf(c), () => secretWrite(c), contextOf(c));
    return c.json(result, result.dry_run ? 200 : 201);
  });
  routes.patch('/secrets/:name{.+}', async (c) =>
    c.json(await admin.updateSecret(await callerOf(c), () => secretUpdate(c), contextOf(c))),
  );
  routes.delete('/secrets/:name{.+}', async (c) =>
    c.json(
      await admin.deleteSecret(await callerOf(c), c.req.param('name'), contextOf(c), () => purgeAsked(c)),
    ),
  );
  routes.get('/versions/:name{.+}', async (c) =>
    c.json(await admin.secretVersions(await callerOf(c), c.req.param('name'), contextOf(c))),
  );
  routes.post('/rollback/:name{.+}', async (c) =>
    c.json(await admin.rollbackSecret(await callerOf(c), () => secretRollback(c), contextOf(c)), 201),
  );
  routes.post('/tokens', async (c) => {
    const request = () =>
      bodyOf(c, createTokenRequestSchema, '{"label": string, "role": "owner" | "admin" | "auditor"}');
    return c.json(await admin.createToken(await callerOf(c), request, contextOf(c)), 201);
  });
  routes.get('/tokens', async (c) =>
    c.json({ tokens: await admin.listTokens(await callerOf(c), contextOf(c)) }),
  );
  routes.delete('/tokens/:id', async (c) =>
    c.json(await admin.revokeToken(await callerOf(c), c.req.param('id'), contextOf(c))),
  );
  routes.get('/audit', async (c) =>
    c.json(await admin.queryAudit(await callerOf(c), () => auditQuery(c), contextOf(c))),
  );
  routes.get('/audit/verify', async (c) =>
    c.json(await admin.verifyAudit(await callerOf(c), () => verifiedHeads(c), contextOf(c))),
  );
  routes.post('/policy/explain', async (c) =>
    c.json(await admin.explain(await callerOf(c), () => explainRequest(c), contextOf(c))),
  );
  routes.post('/keys/rotate', async (c) =>
    c.json(await admin.beginRotation(await callerOf(c), contextOf(c))),
  );
  routes.post('/output-key/rotate', async (c) =>
    c.json(await admin.rotateOutputKey(await callerOf(c), () => outputKeyRotation(c, true), contextOf(c))),
  );
  routes.post('/output-key/drop-old', async (c) =>
    c.json(await admin.rotateOutputKey(await callerOf(c), () => outputKeyRotation(c, false), contextOf(c))),
  );
  routes.post('/keys/rotate/batch', async (c) =>
    c.json(await admin.rotationBatch(await callerOf(c), () => rotationBatch(c), contextOf(c))),
  );
  return routes;
}
