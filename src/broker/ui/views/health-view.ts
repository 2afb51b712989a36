import type { LastReload } from '../reload-status.js';
import { h, time, type Html } from './html.js';

export interface IssuerHealth {
  readonly name: string;
  readonly url: string;
  readonly loaded: boolean;
  readonly keyCount: number;
  readonly fetchedAt: string | undefined;
  readonly lastError: string | undefined;
  /** `pinned`: keys from the policy, never fetched (with the earliest declared end of their validity). */
  readonly source: 'discovery' | 'pinned';
  readonly validUntil: string | undefined;
  readonly keyBinding: string;
}

export interface RateLimitCount {
  readonly what: string;
  readonly count: number;
}

function issuerRow(issuer: IssuerHealth): Html {
  const state = !issuer.loaded
    ? h`<span class="badge bad">no keys</span>`
    : issuer.lastError === undefined
      ? h`<span class="badge good">keys loaded</span>`
      : h`<span class="badge warn">serving older keys</span>`;
  return h`<tr><td><code>${issuer.name}</code></td><td><code>${issuer.url}</code></td><td>${state}</td>
<td class="number">${issuer.keyCount}</td><td>${
    issuer.source === 'pinned'
      ? h`pinned in the policy${issuer.validUntil === undefined ? '' : h`, valid until ${time(issuer.validUntil)}`}`
      : time(issuer.fetchedAt)
  }</td><td>${issuer.keyBinding}</td><td>${issuer.lastError ?? '–'}</td></tr>`;
}

function reload(last: LastReload | undefined): Html {
  if (last === undefined)
    return h`<span class="muted">none since this replica started (the policy it started with serves)</span>`;
  if (last.applied) return h`<span class="badge good">applied</span> at ${time(last.at)}`;
  return h`<span class="badge bad">refused</span> at ${time(last.at)}: the previous policy keeps serving.
<ul class="findings">${last.problems.map((problem) => h`<li>${problem}</li>`)}</ul>`;
}

export function healthView(model: {
  readonly version: string;
  readonly issuers: readonly IssuerHealth[];
  readonly storeProblem: string | undefined;
  readonly policy: { readonly source: string; readonly rules: number; readonly audience: string };
  readonly lastReload: LastReload | undefined;
  readonly rateLimits: readonly RateLimitCount[];
}): Html {
  return h`<p class="muted">This replica (secrets-broker ${model.version}); every replica keeps its own issuer keys, reload result and counts.</p>
<h2>Issuers</h2>
<table><thead><tr><th>Name</th><th>URL</th><th>Keys</th><th>Count</th><th>Last refresh (UTC)</th><th>Key binding</th><th>Last error</th></tr></thead>
<tbody>${model.issuers.map(issuerRow)}</tbody></table>
<h2>Store</h2>
<p>${model.storeProblem === undefined ? h`<span class="badge good">reachable</span>` : h`<span class="badge bad">unavailable</span> ${model.storeProblem}`}</p>
<h2>Policy</h2>
<table><tbody>
<tr><th>Source</th><td><code>${model.policy.source}</code></td></tr>
<tr><th>Rules</th><td>${model.policy.rules}</td></tr>
<tr><th>Audience</th><td><code>${model.policy.audience}</code></td></tr>
<tr><th>Last reload</th><td>${reload(model.lastReload)}</td></tr>
</tbody></table>
<h2>Rate-limit refusals since this replica started</h2>
<table><tbody>${model.rateLimits.map((limit) => h`<tr><th>${limit.what}</th><td class="number">${limit.count}</td></tr>`)}</tbody></table>`;
}
