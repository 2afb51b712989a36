import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { BrokerError } from '../errors.js';
import type { BrokerEnv } from '../http/request-context.js';
import type { AdminAction, AdminContext, AdminService } from './admin-service.js';
import { MAX_SECRET_VALUE_BYTES } from '../store/secret-vault.js';

const setSecretBodySchema = z.strictObject({
  value: z.string(),
  dry_run: z.boolean().optional(),
});

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
    return c.json({ secrets: await admin.listSecrets(identity, c.req.query('prefix') ?? '', contextOf(c)) });
  });

  routes.put(
    '/secrets/:name{.+}',
    bodyLimit({
      maxSize: MAX_SECRET_VALUE_BYTES * 2 + 1024,
      onError: () => {
        throw new BrokerError(
          'payload_too_large',
          `the value is larger than ${MAX_SECRET_VALUE_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      const identity = await authorize(c, 'secrets.set');
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new BrokerError('invalid_request', 'the body is not JSON; send {"value": "..."}');
      }
      const parsed = setSecretBodySchema.safeParse(body);
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
    },
  );

  routes.delete('/secrets/:name{.+}', async (c) => {
    const identity = await authorize(c, 'secrets.delete');
    return c.json(await admin.deleteSecret(identity, c.req.param('name'), contextOf(c)));
  });

  return routes;
}
