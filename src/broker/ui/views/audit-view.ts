import {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  type AuditEntry,
  type AuditPageResponse,
  type AuditVerifyResponse,
} from '../../../protocol/admin-api.js';
import type { ExchangeChart } from '../audit-chart.js';
import { denialsByCode, exchangesOverTime } from './chart-svg.js';
import { h, lines, query, time, type Html } from './html.js';

export const AUDIT_PAGE_SIZES = [25, 50, 100, 200] as const;
/** Exchange records the chart reads at most: the page says when it saw only these. */
export const CHART_MAX_RECORDS = 2000;

export interface AuditViewFilter {
  readonly since: string | undefined;
  readonly until: string | undefined;
  readonly kind: string | undefined;
  readonly outcome: string | undefined;
  readonly repository: string | undefined;
  readonly secret: string | undefined;
  readonly rule: string | undefined;
  readonly request_id: string | undefined;
}

/** Names a record lists in its row (the whole record is under its details). */
const MAX_ROW_NAMES = 5;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function few(names: readonly string[]): string {
  return names.length <= MAX_ROW_NAMES
    ? names.join(', ')
    : `${names.slice(0, MAX_ROW_NAMES).join(', ')} and ${names.length - MAX_ROW_NAMES} more`;
}

/** Who the record is about: the verified workload, what an unverified token claimed (marked), or the admin token. */
function who(record: AuditEntry): Html {
  if (record.kind === 'admin') {
    const label = text(record.admin_label);
    return label === undefined
      ? h`<span class="muted">no valid token</span>`
      : h`${label} <span class="muted">(${text(record.role) ?? ''})</span>`;
  }
  const repository = text(record.repository);
  if (repository !== undefined)
    return h`${repository}${text(record.ref) === undefined ? '' : h`<div class="muted">${text(record.ref)}</div>`}`;
  const claimed = record.claimed as Record<string, unknown> | null | undefined;
  const claimedRepository = text(claimed?.repository);
  return claimedRepository === undefined
    ? h`<span class="muted">–</span>`
    : h`${claimedRepository} <span class="badge warn">claimed, not verified</span>`;
}

function what(record: AuditEntry): Html {
  if (record.kind === 'admin')
    return h`<code>${text(record.action) ?? ''}</code>${text(record.target) === undefined ? '' : h` <code>${text(record.target)}</code>`}`;
  const released = Array.isArray(record.released)
    ? (record.released as { name?: unknown; version?: unknown }[]).map(
        (item) => `${String(item.name)}@${String(item.version)}`,
      )
    : [];
  const requested = strings(record.requested);
  return h`${requested.length === 0 ? '' : h`<div>asked ${few(requested)}</div>`}${released.length === 0 ? '' : h`<div>released ${few(released)}</div>`}`;
}

function row(record: AuditEntry): Html {
  const outcome = text(record.outcome) ?? '';
  const rules = strings(record.rules);
  const requestId = text(record.request_id) ?? '';
  return h`<tr class="outcome-${outcome}">
<td class="number">${record.seq}</td>
<td class="time">${time(record.time)}</td>
<td>${record.kind}</td>
<td><span class="badge ${outcome === 'allowed' ? 'good' : outcome === 'denied' ? 'bad' : 'warn'}">${outcome}</span>${text(record.code) === undefined ? '' : h` <code>${text(record.code)}</code>`}</td>
<td>${who(record)}</td>
<td>${what(record)}</td>
<td>${rules.map((rule) => h`<code>${rule}</code> `)}</td>
<td><a href="/ui/audit${query({ request_id: requestId })}"><code>${requestId.slice(0, 8)}</code></a></td>
<td><details><summary>record</summary><pre>${lines(JSON.stringify(record, null, 2))}</pre></details></td>
</tr>`;
}

function select(name: string, current: string | undefined, options: readonly string[]): Html {
  return h`<select name="${name}"><option value="">any</option>${options.map(
    (option) => h`<option value="${option}"${option === current ? h` selected` : ''}>${option}</option>`,
  )}</select>`;
}

/** datetime-local wants "YYYY-MM-DDTHH:MM" with no zone: the filter's UTC time written that way. */
function localValue(iso: string | undefined): string {
  return iso === undefined ? '' : iso.slice(0, 16);
}

function filterForm(filter: AuditViewFilter, limit: number): Html {
  return h`<form class="filters" method="get" action="/ui/audit">
  <label>Since (UTC) <input type="datetime-local" name="since" value="${localValue(filter.since)}"></label>
  <label>Until (UTC) <input type="datetime-local" name="until" value="${localValue(filter.until)}"></label>
  <label>Kind ${select('kind', filter.kind, AUDIT_KINDS)}</label>
  <label>Outcome ${select('outcome', filter.outcome, AUDIT_OUTCOMES)}</label>
  <label>Repository <input name="repository" value="${filter.repository ?? ''}" maxlength="256"></label>
  <label>Secret <input name="secret" value="${filter.secret ?? ''}" maxlength="256"></label>
  <label>Rule <input name="rule" value="${filter.rule ?? ''}" maxlength="256"></label>
  <label>Request id <input name="request_id" value="${filter.request_id ?? ''}" maxlength="256"></label>
  <label>Per page <select name="limit">${AUDIT_PAGE_SIZES.map((size) => h`<option${size === limit ? h` selected` : ''}>${size}</option>`)}</select></label>
  <button type="submit">Filter</button> <a href="/ui/audit">Clear</a>
</form>`;
}

export function auditView(model: {
  readonly filter: AuditViewFilter;
  readonly after: number;
  readonly limit: number;
  readonly page: AuditPageResponse;
  readonly head: { readonly seq: number; readonly hash: string } | undefined;
  readonly chart: ExchangeChart;
  readonly chartTruncated: boolean;
}): Html {
  const { filter, after, limit, page, head, chart } = model;
  const kept = { ...filter, limit: String(limit) };
  return h`${filterForm(filter, limit)}
<section class="chain"><h2>Chain</h2>
<p>Head: ${head === undefined ? h`<span class="muted">the log is empty</span>` : h`record <strong>${head.seq}</strong>, <code class="hash">${head.hash}</code>`}.
<a href="/ui/audit/chain">Verify the whole chain now</a> (as <code>secrets-broker audit verify</code> does).</p></section>
<section class="charts"><h2>Exchanges over time</h2>
${model.chartTruncated ? h`<p class="notice">Only the first ${CHART_MAX_RECORDS} exchanges of this window are counted: narrow the time filter.</p>` : ''}
${exchangesOverTime(chart)}
<h2>Denials by code</h2>
${denialsByCode(chart)}</section>
<h2>Records</h2>
<div class="scroll"><table class="audit">
<thead><tr><th>Seq</th><th>Time (UTC)</th><th>Kind</th><th>Outcome</th><th>Workload or admin</th><th>Secrets or action</th><th>Rules</th><th>Request</th><th></th></tr></thead>
<tbody>${page.records.length === 0 ? h`<tr><td colspan="9" class="muted">No record matches.</td></tr>` : page.records.map(row)}</tbody>
</table></div>
<nav class="pager" aria-label="Pages">
  ${after > 0 ? h`<a href="/ui/audit${query(kept)}">← First page</a>` : ''}
  <span>${page.records.length} ${page.records.length === 1 ? 'record' : 'records'} after record ${after}</span>
  ${page.next_after === null ? '' : h`<a href="/ui/audit${query({ ...kept, after: page.next_after })}">Next page →</a>`}
</nav>`;
}

export function chainView(result: AuditVerifyResponse): Html {
  return h`<p class="${result.ok ? 'notice' : 'problem'}" role="status">${
    result.ok
      ? `The chain verifies: ${result.checked} records checked.`
      : `The chain does NOT verify${result.problem === undefined ? '' : `: record ${result.problem.seq}: ${result.problem.reason}`}.`
  }</p>
<table><tbody>
<tr><th>Records checked</th><td>${result.checked}</td></tr>
<tr><th>Last record</th><td>${result.last_seq ?? '–'}</td></tr>
<tr><th>Head</th><td>${result.head === null || result.head === undefined ? '–' : h`${result.head.seq}: <code class="hash">${result.head.hash}</code>`}</td></tr>
<tr><th>Keyed links</th><td>${result.keyed ?? '–'}</td></tr>
<tr><th>Hash-only links (before the chain was keyed)</th><td>${result.hash_only ?? '–'}</td></tr>
<tr><th>Keyed from</th><td>${result.keyed_from === null || result.keyed_from === undefined ? '–' : `record ${result.keyed_from.seq} (${time(result.keyed_from.time)})`}</td></tr>
<tr><th>Under a key this broker does not hold</th><td>${(result.under_unconfigured_key ?? []).length === 0 ? 'none' : (result.under_unconfigured_key ?? []).map((range) => h`<div>key <code>${range.key}</code>: records ${range.first}–${range.last} (${range.count})</div>`)}</td></tr>
</tbody></table>
<p><a href="/ui/audit">Back to the audit records</a></p>`;
}
