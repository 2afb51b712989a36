import { Hono } from 'hono';
import type { BrokerMetrics } from '../metrics.js';
import type { TokenVerifier } from '../oidc/token-verifier.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { Stores } from '../store/interfaces.js';
import type { BrokerEnv } from './request-context.js';

export interface StatusRouteDependencies {
  readonly policy: PolicyHolder;
  readonly verifier: TokenVerifier;
  readonly stores: Stores;
  readonly metrics: BrokerMetrics;
  readonly version: string;
  /** The run-output public key jobs seal outputs to, and its id. */
  readonly runOutputKey: () => { readonly publicKey: string; readonly keyId: string };
  /** Why exchanges cannot be sealed, or undefined while they can. */
  readonly sealingProblem: () => string | undefined;
}

/** What the broker is and whether it can serve: /v1/info, /healthz, /readyz, /metrics. */
export function statusRoutes(deps: StatusRouteDependencies): Hono<BrokerEnv> {
  const routes = new Hono<BrokerEnv>();

  routes.get('/v1/info', (c) => {
    const policy = deps.policy.current;
    const outputKey = deps.runOutputKey();
    return c.json({
      service: 'secrets-broker',
      version: deps.version,
      protocol: 1,
      audience: policy.audience,
      // What clients need to request their tokens: each issuer's audience and whether to bind tokens to their key.
      issuers: [...policy.issuers.values()].map((issuer) => ({
        name: issuer.name,
        url: issuer.url,
        audience: issuer.audience,
        key_binding: issuer.keyBinding,
      })),
      run_output_key: outputKey.publicKey,
      run_output_key_id: outputKey.keyId,
    });
  });

  routes.get('/healthz', (c) => c.json({ status: 'ok' }));

  routes.get('/readyz', async (c) => {
    const issuers = deps.verifier.keyStatus().map((status) => ({
      issuer: status.issuer,
      // `pinned`: keys from the policy, never fetched (fetched_at null); valid_until: the earliest declared end.
      source: status.source,
      loaded: status.loaded,
      key_count: status.keyCount,
      fetched_at: status.fetchedAt ?? null,
      last_error: status.lastError ?? null,
      valid_until: status.validUntil ?? null,
    }));
    try {
      await deps.stores.ping();
    } catch (error) {
      return c.json({ status: 'unavailable', store: (error as Error).message, issuers }, 503);
    }
    const sealing = deps.sealingProblem();
    if (sealing !== undefined) return c.json({ status: 'unavailable', store: 'ok', sealing, issuers }, 503);
    return c.json({ status: 'ready', store: 'ok', policy: deps.policy.current.source, issuers });
  });

  routes.get('/metrics', async (c) =>
    c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }),
  );

  return routes;
}
