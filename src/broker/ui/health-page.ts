import type { Counter } from 'prom-client';
import { adminContextOf, type DashboardContext, type SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { viewQuery } from './query-params.js';
import type { Html } from './views/html.js';
import { healthView, type IssuerHealth, type RateLimitCount } from './views/health-view.js';

/** Requests refused for their rate (the problem code the broker answers them with). */
const RATE_LIMITED = 'rate_limited';

async function rateLimited(counter: Counter<'outcome' | 'code'>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((value) => value.labels.code === RATE_LIMITED)
    .reduce((sum, value) => sum + value.value, 0);
}

async function storeState(deps: DashboardDependencies): Promise<string | undefined> {
  try {
    await deps.stores.ping();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Health: each issuer's keys, the store, the policy and its last reload, and rate-limit refusals since the start. */
export async function healthPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  viewQuery(c, []);
  // The view's admission and audit record: every view is an audited admin read.
  await deps.admin.whoami(signedIn.identity, adminContextOf(c));
  const policy = deps.policy.current;
  const status = new Map(deps.verifier.keyStatus().map((keys) => [keys.issuer, keys]));
  const issuers: IssuerHealth[] = [...policy.issuers.values()].map((issuer) => {
    const keys = status.get(issuer.url);
    return {
      name: issuer.name,
      url: issuer.url,
      loaded: keys?.loaded ?? false,
      keyCount: keys?.keyCount ?? 0,
      fetchedAt: keys?.fetchedAt,
      lastError: keys?.lastError,
      source: issuer.pinnedKeys === undefined ? 'discovery' : 'pinned',
      validUntil: keys?.validUntil,
      keyBinding: issuer.keyBinding,
    };
  });
  const { metrics } = deps;
  const rateLimits: RateLimitCount[] = [
    { what: 'Exchanges (POST /v1/exchange)', count: await rateLimited(metrics.exchanges) },
    { what: 'Discovery (POST /v1/list)', count: await rateLimited(metrics.listRequests) },
    { what: 'Run outputs (POST /v1/outputs)', count: await rateLimited(metrics.outputPuts) },
    {
      what: 'Admin calls after failed authentications',
      count: (await metrics.adminAuthRefused.get()).values.reduce((sum, value) => sum + value.value, 0),
    },
  ];
  return healthView({
    version: deps.version,
    issuers,
    storeProblem: await storeState(deps),
    policy: { source: policy.source, rules: policy.rules.length, audience: policy.audience },
    lastReload: deps.reloads.lastReload,
    rateLimits,
  });
}
