import type { SecretListing } from '../../protocol/admin-api.js';
import { adminContextOf, type DashboardContext, type SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { grantingRules } from './grants.js';
import { viewQuery, wholeNumber } from './query-params.js';
import type { Html } from './views/html.js';
import { secretsView, type SecretRow } from './views/secrets-view.js';

export const SECRETS_PAGE_SIZE = 50;
const MAX_PAGE = 100_000;

/** The current version's length and fingerprint prefix: version metadata, never the value. */
async function currentFacts(
  deps: DashboardDependencies,
  listing: SecretListing,
): Promise<{ bytes: number | null; fingerprint: string | null }> {
  const history = await deps.secretHistory(listing.name, 1);
  const current = history?.versions[0];
  if (current === undefined || current.version !== listing.version) return { bytes: null, fingerprint: null };
  return { bytes: current.bytes ?? null, fingerprint: current.fingerprint ?? null };
}

/** Secrets: one page of the stored names with their conditions, facts and the rules that grant each. */
export async function secretsPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  const param = viewQuery(c, ['prefix', 'page']);
  const prefix = param('prefix') ?? '';
  const pageNumber = wholeNumber(param('page'), 'page', 1, MAX_PAGE, 1);
  const listings = await deps.admin.listSecrets(signedIn.identity, prefix, adminContextOf(c));
  const pageCount = Math.max(1, Math.ceil(listings.length / SECRETS_PAGE_SIZE));
  const shown = listings.slice((pageNumber - 1) * SECRETS_PAGE_SIZE, pageNumber * SECRETS_PAGE_SIZE);
  const policy = deps.policy.current;
  const rows: SecretRow[] = [];
  for (const listing of shown) {
    rows.push({
      listing,
      ...(await currentFacts(deps, listing)),
      rules: grantingRules(policy, listing.name),
    });
  }
  return secretsView({ rows, prefix, pageNumber, pageCount, total: listings.length });
}
