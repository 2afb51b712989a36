import {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  AUDIT_QUERY_PARAMETERS,
  type AuditEntry,
} from '../../protocol/admin-api.js';
import { BrokerError } from '../errors.js';
import type { AuditFilter } from '../store/interfaces.js';
import { exchangeChart, type ExchangeChart } from './audit-chart.js';
import { seqBefore } from './audit-window.js';
import { adminContextOf, type DashboardContext, type SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { timeFilter, viewQuery, wholeNumber } from './query-params.js';
import {
  AUDIT_PAGE_SIZES,
  auditView,
  CHART_MAX_RECORDS,
  chainView,
  type AuditViewFilter,
} from './views/audit-view.js';
import type { Html } from './views/html.js';

const DEFAULT_PAGE_SIZE = 50;
const CHART_PAGE = 1000;
/** The chart's window when the filter gives no time: the last day. */
const DEFAULT_CHART_WINDOW_MS = 86_400_000;

/** The audit view takes the admin API's audit filters, and no other parameter. */
export const AUDIT_VIEW_PARAMETERS = AUDIT_QUERY_PARAMETERS;

function oneOf(value: string | undefined, name: string, allowed: readonly string[]): string | undefined {
  if (value === undefined || allowed.includes(value)) return value;
  throw new BrokerError('invalid_request', `"${name}" must be one of ${allowed.join(', ')}`);
}

function storeFilter(filter: AuditViewFilter): AuditFilter {
  return {
    since: filter.since,
    until: filter.until,
    kind: filter.kind,
    outcome: filter.outcome,
    repository: filter.repository,
    secret: filter.secret,
    rule: filter.rule,
    requestId: filter.request_id,
  };
}

/**
 * The exchanges the chart counts: the filter's repository, secret, rule and time (the last day when it gives none),
 * every outcome, read through the admin audit query in a bounded number of pages, from near the window's start
 * (found by a binary search over sequence numbers) rather than from the log's beginning.
 */
async function chartRecords(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
  filter: AuditViewFilter,
  headSeq: number | undefined,
): Promise<{ records: AuditEntry[]; from: number; to: number; truncated: boolean }> {
  const to = filter.until === undefined ? (deps.now ?? Date.now)() : Date.parse(filter.until);
  const from = filter.since === undefined ? to - DEFAULT_CHART_WINDOW_MS : Date.parse(filter.since);
  const chartFilter: AuditFilter = {
    ...storeFilter(filter),
    kind: 'exchange',
    outcome: undefined,
    requestId: undefined,
    since: new Date(from).toISOString(),
    until: new Date(to).toISOString(),
  };
  const records: AuditEntry[] = [];
  if (headSeq === undefined) return { records, from, to, truncated: false };
  let after = await seqBefore(deps.auditPage, headSeq, from);
  while (records.length < CHART_MAX_RECORDS) {
    const page = await deps.admin.queryAudit(
      signedIn.identity,
      { filter: chartFilter, after, pageSize: CHART_PAGE },
      adminContextOf(c),
    );
    records.push(...page.records);
    if (page.next_after === null) return { records, from, to, truncated: false };
    after = page.next_after;
  }
  return { records, from, to, truncated: true };
}

/** Audit: one page of records with the CLI's filters, the chain's head, and charts of exchanges and denials. */
export async function auditPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  const param = viewQuery(c, AUDIT_VIEW_PARAMETERS);
  const filter: AuditViewFilter = {
    since: timeFilter(param('since'), 'since'),
    until: timeFilter(param('until'), 'until'),
    kind: oneOf(param('kind'), 'kind', AUDIT_KINDS),
    outcome: oneOf(param('outcome'), 'outcome', AUDIT_OUTCOMES),
    repository: param('repository'),
    secret: param('secret'),
    rule: param('rule'),
    request_id: param('request_id'),
  };
  const after = wholeNumber(param('after'), 'after', 0, Number.MAX_SAFE_INTEGER, 0);
  const limit = wholeNumber(param('limit'), 'limit', 1, 200, DEFAULT_PAGE_SIZE);
  if (!(AUDIT_PAGE_SIZES as readonly number[]).includes(limit))
    throw new BrokerError('invalid_request', `"limit" must be one of ${AUDIT_PAGE_SIZES.join(', ')}`);
  const page = await deps.admin.queryAudit(
    signedIn.identity,
    { filter: storeFilter(filter), after, pageSize: limit },
    adminContextOf(c),
  );
  const head = await deps.auditHead();
  const chartData = await chartRecords(c, deps, signedIn, filter, head?.seq);
  const chart: ExchangeChart = exchangeChart(chartData.records, chartData.from, chartData.to);
  return auditView({ filter, after, limit, page, head, chart, chartTruncated: chartData.truncated });
}

/** The chain's verification (`audit verify`): every link checked with the configured keys, and the head. */
export async function chainPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  viewQuery(c, []);
  const result = await deps.admin.verifyAudit(signedIn.identity, [], adminContextOf(c));
  return chainView(result);
}
