import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { BrokerError } from '../errors.js';
import type { BrokerEnv } from './request-context.js';
import { readBodyText } from './read-body.js';
import type { AdminAction, AdminContext, AdminService } from '../admin/admin-service.js';
import { MAX_SECRET_VALUE_BYTES } from '../store/secret-vault.js';
import { CHAIN_HEAD_EXAMPLE, parseChainHead, type ChainHead } from '../audit/audit-chain.js';
import { AUDIT_KINDS, AUDIT_OUTCOMES, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE } from '../admin/audit-query.js';

const setSecretBodySchema = z.strictObject({
  value: z.string(),
  dry_run: z.boolean().optional(),
});

const explainBodySchema = z.strictObject({
  claims: z.record(z.string(), z.unknown()).optional(),
  token: z
    .string()
    .max(16 * 1024)
    .optional(),
  secrets: z.array(z.string()).max(100).optional(),
});

const rotationBatchSchema = z.strictObject({
  target_key_id: z.string(),
  size: z.number().int().min(1).max(1000),
});

const tokenBodySchema = z.strictObject({ label: z.string(), role: z.string() });

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

const AUDIT_PARAMETERS = [
  'since',
  'until',
  'kind',
  'outcome',
  'repository',
  'secret',
  'rule',
  'request_id',
  'after',
  'limit',
] as const;

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
  const text = await readBodyText(
    c.env.incoming,
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

/** The admin API under /v1/admin. Values go in through it and never come out. */
export function adminRoutes(admin: AdminService): Hono<BrokerEnv> {
  const routes = new Hono<BrokerEnv>();
  const contextOf = (c: Context<BrokerEnv>): AdminContext => ({
    requestId: c.get('requestId'),
    sourceIp: c.get('sourceIp'),
  });
  const authorize = (c: Context<BrokerEnv>, action: AdminAction) =>
    admin.authorize(c.req.header('authorization'), action, contextOf(c));

  routes.get('/whoami', async (c) => c.json(await admin.whoami(await authorize(c, 'whoami'), contextOf(c))));

  routes.get('/secrets', async (c) => {
    const identity = await authorize(c, 'secrets.list');
    onlyParameters(c, ['prefix']);
    return c.json({ secrets: await admin.listSecrets(identity, c.req.query('prefix') ?? '', contextOf(c)) });
  });

  routes.put('/secrets/:name{.+}', async (c) => {
    const identity = await authorize(c, 'secrets.set');
    const parsed = setSecretBodySchema.safeParse(await jsonBody(c, SECRET_BODY));
    if (!parsed.success) {
      throw new BrokerError('invalid_request', 'the body must be {"value": string, "dry_run"?: boolean}');
    }
    const result = await admin.setSecret(
      identity,
      c.req.param('name'),
      parsed.data.value,
      parsed.data.dry_run ?? false,
      contextOf(c),
    );
    return c.json(result, parsed.data.dry_run === true ? 200 : 201);
  });

  routes.post('/tokens', async (c) => {
    const identity = await authorize(c, 'tokens.create');
    const body = tokenBodySchema.safeParse(await jsonBody(c));
    if (!body.success)
      throw new BrokerError(
        'invalid_request',
        'the body must be {"label": string, "role": "owner" | "admin" | "auditor"}',
      );
    return c.json(await admin.createToken(identity, body.data.label, body.data.role, contextOf(c)), 201);
  });

  routes.get('/tokens', async (c) => {
    const identity = await authorize(c, 'tokens.list');
    return c.json({ tokens: await admin.listTokens(identity, contextOf(c)) });
  });

  routes.delete('/tokens/:id', async (c) => {
    const identity = await authorize(c, 'tokens.revoke');
    return c.json(await admin.revokeToken(identity, c.req.param('id'), contextOf(c)));
  });

  routes.get('/audit', async (c) => {
    const identity = await authorize(c, 'audit.read');
    onlyParameters(c, AUDIT_PARAMETERS);
    const query = (name: (typeof AUDIT_PARAMETERS)[number]): string | undefined =>
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
    return c.json(await admin.queryAudit(identity, filter, after, pageSize, contextOf(c)));
  });

  routes.get('/audit/verify', async (c) => {
    const identity = await authorize(c, 'audit.verify');
    onlyParameters(c, ['head']);
    return c.json(
      await admin.verifyAudit(identity, publishedHeads(c.req.queries('head') ?? []), contextOf(c)),
    );
  });

  routes.post('/policy/explain', async (c) => {
    const identity = await authorize(c, 'policy.explain');
    const body = explainBodySchema.safeParse(await jsonBody(c));
    if (!body.success || (body.data.claims === undefined) === (body.data.token === undefined)) {
      throw new BrokerError(
        'invalid_request',
        'the body must be {"claims": {...}} or {"token": "JWT"}, with "secrets": [names] optional',
      );
    }
    return c.json(await admin.explain(identity, body.data, contextOf(c)));
  });

  routes.post('/keys/rotate', async (c) =>
    c.json(await admin.beginRotation(await authorize(c, 'keys.rotate'), contextOf(c))),
  );

  routes.post('/keys/rotate/batch', async (c) => {
    const identity = await authorize(c, 'keys.rotate');
    const body = rotationBatchSchema.safeParse(await jsonBody(c));
    if (!body.success)
      throw new BrokerError('invalid_request', 'the body must be {"target_key_id": string, "size": 1..1000}');
    return c.json(await admin.rotationBatch(identity, body.data.target_key_id, body.data.size, contextOf(c)));
  });

  routes.delete('/secrets/:name{.+}', async (c) => {
    const identity = await authorize(c, 'secrets.delete');
    return c.json(await admin.deleteSecret(identity, c.req.param('name'), contextOf(c)));
  });

  return routes;
}
