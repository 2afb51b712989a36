import { accessMatrix } from './access-matrix.js';
import { adminContextOf, type DashboardContext, type SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { viewQuery, wholeNumber } from './query-params.js';
import type { Html } from './views/html.js';
import { matrixView } from './views/matrix-view.js';

/** Pages of rule cards a link may ask for (a page past the last shows the last). */
const MAX_PAGE = 100_000;

/**
 * Access matrix: the policy's rules against the stored names, a page of rules at a time, filtered by
 * repository/project, name prefix, rule, or a stored name the rules grant.
 */
export async function matrixPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  const param = viewQuery(c, ['repository', 'prefix', 'rule', 'secret', 'page']);
  const filter = {
    repository: param('repository'),
    prefix: param('prefix'),
    rule: param('rule'),
    secret: param('secret'),
  };
  const pageNumber = wholeNumber(param('page'), 'page', 1, MAX_PAGE, 1);
  const listings = await deps.admin.listSecrets(signedIn.identity, filter.prefix ?? '', adminContextOf(c));
  const policy = deps.policy.current;
  const matrix = accessMatrix(
    policy,
    listings.map((listing) => listing.name),
    filter,
    pageNumber,
  );
  return matrixView(matrix, filter, policy.source);
}
