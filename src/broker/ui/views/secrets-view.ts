import type { SecretListing } from '../../../protocol/admin-api.js';
import { formatDuration } from '../../../protocol/duration.js';
import { h, query, time, type Html } from './html.js';

export interface SecretRow {
  readonly listing: SecretListing;
  readonly bytes: number | null;
  readonly fingerprint: string | null;
  readonly rules: readonly string[];
}

/** Fingerprint digits shown: enough to tell two values apart at a glance. */
const FINGERPRINT_PREFIX = 8;
/** Rule names a row lists; the rest are one link away, in the matrix filtered to the name. */
export const MAX_ROW_RULES = 10;

function grantedBy(name: string, rules: readonly string[]): Html {
  if (rules.length === 0) return h`<span class="badge warn">no rule grants it</span>`;
  const more = rules.length - MAX_ROW_RULES;
  return h`${rules.slice(0, MAX_ROW_RULES).map((rule) => h`<a class="rule" href="/ui/matrix${query({ rule })}">${rule}</a> `)}${more > 0 ? h`<a href="/ui/matrix${query({ secret: name, prefix: name })}">and ${more} more</a>` : ''}`;
}

function state(listing: SecretListing): Html {
  const flags = [
    listing.expired ? h`<span class="badge bad">expired</span>` : '',
    listing.budget_exhausted ? h`<span class="badge bad">read budget used up</span>` : '',
    listing.rotation_required ? h`<span class="badge bad">rotation required</span>` : '',
  ];
  return flags.some((flag) => flag !== '') ? h`${flags}` : h`<span class="badge good">served</span>`;
}

function conditions(listing: SecretListing): Html {
  const parts = [
    listing.expires_at === null ? '' : h`<div>expires ${time(listing.expires_at)}</div>`,
    listing.max_reads === null
      ? ''
      : h`<div>${listing.reads_in_window} of ${listing.max_reads.count} reads per ${formatDuration(listing.max_reads.period_seconds)}</div>`,
    listing.rotate_after_reads === null
      ? ''
      : h`<div>${listing.releases} of ${listing.rotate_after_reads} reads before rotation</div>`,
  ];
  return parts.some((part) => part !== '') ? h`${parts}` : h`<span class="muted">none</span>`;
}

function row({ listing, bytes, fingerprint, rules }: SecretRow): Html {
  return h`<tr>
  <td><code>${listing.name}</code>
    <div class="links"><a href="/ui/audit${query({ secret: listing.name })}">audit</a></div></td>
  <td class="number">${listing.version} <span class="muted">(${listing.versions} kept)</span></td>
  <td class="time">${time(listing.updated_at)}</td>
  <td class="number">${bytes === null ? '–' : `${bytes} B`}</td>
  <td>${fingerprint === null ? '–' : h`<code>${fingerprint.slice(0, FINGERPRINT_PREFIX)}</code>`}</td>
  <td>${listing.owner ?? '–'}</td>
  <td>${listing.description ?? '–'}</td>
  <td>${conditions(listing)}</td>
  <td>${state(listing)}</td>
  <td>${grantedBy(listing.name, rules)}</td>
</tr>`;
}

export function secretsView(model: {
  readonly rows: readonly SecretRow[];
  readonly prefix: string;
  readonly pageNumber: number;
  readonly pageCount: number;
  readonly total: number;
}): Html {
  const { rows, prefix, pageNumber, pageCount, total } = model;
  return h`<form class="filters" method="get" action="/ui/secrets">
  <label>Name prefix <input name="prefix" value="${prefix}" maxlength="256" placeholder="prod/"></label>
  <button type="submit">Filter</button>
</form>
<p class="muted">${total} stored ${total === 1 ? 'secret' : 'secrets'}${prefix === '' ? '' : h` under <code>${prefix}</code>`}. Values are never shown: the length and the fingerprint (a keyed hash) tell versions apart.</p>
<div class="scroll"><table>
<thead><tr><th>Name</th><th>Version</th><th>Updated (UTC)</th><th>Length</th><th>Fingerprint</th><th>Owner</th><th>Description</th><th>Conditions</th><th>State</th><th>Granted by</th></tr></thead>
<tbody>${rows.length === 0 ? h`<tr><td colspan="10" class="muted">No secret is stored${prefix === '' ? '' : ' under this prefix'}.</td></tr>` : rows.map(row)}</tbody>
</table></div>
${pager('/ui/secrets', { prefix }, pageNumber, pageCount)}`;
}

export function pager(
  path: string,
  filters: Readonly<Record<string, string | undefined>>,
  pageNumber: number,
  pageCount: number,
): Html {
  if (pageCount <= 1) return h``;
  return h`<nav class="pager" aria-label="Pages">
  ${pageNumber > 1 ? h`<a href="${path}${query({ ...filters, page: pageNumber - 1 })}">← Previous</a>` : ''}
  <span>Page ${pageNumber} of ${pageCount}</span>
  ${pageNumber < pageCount ? h`<a href="${path}${query({ ...filters, page: pageNumber + 1 })}">Next →</a>` : ''}
</nav>`;
}
