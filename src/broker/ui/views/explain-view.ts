import type { ExplainResponse } from '../../../protocol/admin-api.js';
import type { ClosestRule } from '../closest-rule.js';
import { h, lines, type Html } from './html.js';

export interface ExplainInput {
  readonly text: string;
  readonly secrets: string;
  readonly sourceIp: string;
}

export interface ExplainResult {
  readonly explanation: ExplainResponse;
  readonly closest: readonly { readonly secret: string; readonly rule: ClosestRule | undefined }[];
  readonly overall: ClosestRule | undefined;
  readonly wasToken: boolean;
}

function values(actual: readonly string[] | undefined): string {
  if (actual === undefined) return '(missing)';
  return actual.length === 1 ? JSON.stringify(actual[0]) : JSON.stringify(actual);
}

function closestText(closest: ClosestRule | undefined): Html {
  if (closest === undefined) return h`<span class="muted">no rule of this issuer</span>`;
  return h`<code>${closest.name}</code>: ${closest.matchedClaims} of ${closest.claims} claims match${
    closest.failing.length === 0
      ? ''
      : h`; fails on ${closest.failing.map(
          (check) =>
            h`<code>${check.claim}</code> (wants <code>${check.expected}</code>, has <code>${values(check.actual)}</code>) `,
        )}`
  }`;
}

function tokenChecks(token: NonNullable<ExplainResponse['token']>): Html {
  return h`<h2>Token</h2>
<p class="${token.refused === null ? 'notice' : 'problem'}">${
    token.refused === null
      ? token.signature_checked
        ? "The token passes every check the broker makes before the policy (its signature verified with the issuer's pinned keys), except whether it was already used (not checked here)."
        : 'The token passes every check the broker makes before the policy, except its signature and whether it was already used (not checked here).'
      : h`The broker would refuse this token: <code>${token.refused.code}</code>: ${token.refused.detail}${token.refused.hint === null ? '' : h` (${token.refused.hint})`}`
  }</p>
<table><thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead><tbody>${token.checks.map(
    (check) =>
      h`<tr><td>${check.check.replace(/_/g, ' ')}</td><td><span class="badge ${check.result === 'passed' ? 'good' : check.result === 'failed' ? 'bad' : 'muted'}">${check.result.replace('_', ' ')}</span></td><td>${check.detail}</td></tr>`,
  )}</tbody></table>`;
}

function rulesTable(explanation: ExplainResponse): Html {
  return h`<h2>Rules</h2>
<table class="explain-rules"><thead><tr><th>Rule</th><th>Decision</th><th>Claims (token has → rule wants)</th></tr></thead><tbody>${explanation.rules.map(
    (rule) =>
      h`<tr class="${rule.grants ? 'granted' : ''}"><td><code>${rule.name}</code> <span class="muted">line ${rule.line}</span></td>
<td>${!rule.issuer_matches ? h`<span class="muted">other issuer (${rule.issuer})</span>` : rule.grants ? h`<span class="badge good">grants</span>` : rule.matched ? h`<span class="badge warn">claims match, a condition fails</span>` : h`<span class="badge bad">does not match</span>`}</td>
<td>${rule.issuer_matches ? h`<ul class="checks">${rule.claims.map((check) => h`<li class="${check.matched ? 'ok' : 'fail'}">${check.matched ? '✓' : '✗'} <code>${check.claim}</code>: <code>${values(check.actual)}</code> → <code>${check.expected}</code></li>`)}${rule.conditions.map((condition) => h`<li class="${condition.holds === false ? 'fail' : 'ok'}">${condition.holds === null ? '–' : condition.holds ? '✓' : '✗'} <code>when.${condition.condition}</code>: ${condition.actual ?? 'not checked'} → ${condition.expected}</li>`)}</ul>` : ''}</td></tr>`,
  )}</tbody></table>`;
}

function decision(result: ExplainResult): Html {
  const { explanation } = result;
  return h`<section class="result" aria-label="Explain result">
${explanation.token === null ? '' : tokenChecks(explanation.token)}
<h2>Decision</h2>
<p>Issuer: ${explanation.issuer === null ? h`<span class="problem">${explanation.issuer_url ?? '(none)'}: ${explanation.note ?? ''}</span>` : h`<code>${explanation.issuer}</code> (${explanation.issuer_url ?? ''})`}.
Conditions checked for client address ${explanation.source_ip ?? '(not given: source_ips not checked)'} at ${explanation.at ?? 'the present time'}.</p>
${
  explanation.secrets.length === 0
    ? h`<p>Matching rules: ${explanation.matched_rules.length === 0 ? h`<strong>none</strong>` : explanation.matched_rules.map((rule) => h`<code>${rule}</code> `)}.
Closest rule: ${closestText(result.overall)}.</p>`
    : h`<table class="decisions"><thead><tr><th>Secret</th><th>Decision</th><th>Closest rule</th></tr></thead><tbody>${explanation.secrets.map(
        (secret, index) =>
          h`<tr><td><code>${secret.entry}</code></td><td>${secret.granted ? h`<span class="badge good">granted</span> by ${secret.rules.map((rule) => h`<code>${rule}</code> `)}${secret.assumes === null ? '' : h`<div class="muted">if ${secret.assumes}</div>`}` : h`<span class="badge bad">denied</span> ${secret.reason ?? ''}`}</td>
<td>${secret.granted ? h`<span class="muted">–</span>` : closestText(result.closest[index]?.rule)}</td></tr>`,
      )}</tbody></table>`
}
${rulesTable(explanation)}
</section>`;
}

/** The explain form (claims or a token, secret names, an optional client address) and, once sent, the decision. */
export function explainView(csrf: string, input: ExplainInput, result: ExplainResult | undefined): Html {
  return h`<form method="post" action="/ui/explain" class="explain">
  <input type="hidden" name="csrf" value="${csrf}">
  <label for="input">Claims (a JSON object) or a token</label>
  <textarea id="input" name="input" rows="8" spellcheck="false" required placeholder='{"iss": "https://token.actions.githubusercontent.com", "repository": "acme/api", "ref": "refs/heads/main"}'>${lines(input.text)}</textarea>
  ${result?.wasToken === true ? h`<p class="muted">The token you explained is not shown again.</p>` : ''}
  <label for="secrets">Secret names (one per line or comma-separated; optional)</label>
  <textarea id="secrets" name="secrets" rows="3" spellcheck="false" placeholder="prod/api/DB_PASSWORD">${lines(input.secrets)}</textarea>
  <label for="source_ip">Client address for <code>when.source_ips</code> (optional)</label>
  <input id="source_ip" name="source_ip" value="${input.sourceIp}" maxlength="64" placeholder="203.0.113.7">
  <button type="submit">Explain</button>
</form>
<p class="muted">Nothing is exchanged and nothing is written but the audit record of the explain: the policy being served is evaluated as <code>secrets-broker policy explain</code> does. A token's signature is checked only for issuers whose keys the policy pins (offline; explain never fetches keys).</p>
${result === undefined ? '' : decision(result)}`;
}
