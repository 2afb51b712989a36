import type { CompiledRule } from '../../policy/compiled-policy.js';
import type { LintFinding } from '../../policy/lint.js';
import { MAX_MATRIX_NAMES, type AccessMatrix, type MatrixRule } from '../access-matrix.js';
import { h, query, type Html } from './html.js';
import { pager } from './secrets-view.js';

interface MatrixFilter {
  readonly repository: string | undefined;
  readonly prefix: string | undefined;
  readonly rule: string | undefined;
  readonly secret: string | undefined;
}

/** Stored names and lint findings a rule card lists; the grid shows every name, `policy lint` every finding. */
const MAX_CARD_NAMES = 20;
const MAX_CARD_FINDINGS = 20;

function conditionsOf(rule: CompiledRule): Html {
  const when = rule.when;
  if (when === undefined) return h``;
  return h`${when.sourceIps === undefined ? '' : h`<li><code>when.source_ips</code>: ${when.sourceIps.ranges.join(', ')}</li>`}
${when.time === undefined ? '' : h`<li><code>when.time</code>: ${when.time.daysText ?? 'every day'}, ${when.time.hours?.text ?? 'all day'} (${when.time.timezone})</li>`}`;
}

function grantedNames(grants: readonly string[]): Html {
  if (grants.length === 0) return h`<p class="muted">none of the names shown</p>`;
  const more = grants.length - MAX_CARD_NAMES;
  return h`<ul class="names">${grants.slice(0, MAX_CARD_NAMES).map((name) => h`<li><code>${name}</code></li>`)}</ul>
    ${more > 0 ? h`<p class="muted">and ${more} more: see the grid</p>` : ''}`;
}

function lintFindings(findings: readonly LintFinding[] | undefined): Html {
  if (findings === undefined) return h`<h4>Lint findings</h4><p class="muted">not run here (see above)</p>`;
  const more = findings.length - MAX_CARD_FINDINGS;
  return h`<h4>Lint findings (${findings.length})</h4>
    ${findings.length === 0 ? h`<p class="muted">none</p>` : h`<ul class="findings">${findings.slice(0, MAX_CARD_FINDINGS).map((finding) => h`<li class="${finding.severity}"><span class="badge ${finding.severity === 'error' ? 'bad' : 'warn'}">${finding.severity}</span> <code>${finding.check}</code> (line ${finding.line}): ${finding.message}</li>`)}</ul>`}
    ${more > 0 ? h`<p class="muted">and ${more} more: run <code>secrets-broker policy lint</code></p>` : ''}`;
}

function ruleCard({ rule, grants, findings, repositoryUnbound, standing }: MatrixRule): Html {
  return h`<section class="rule-card" id="rule-${rule.name}">
  <h3><code>${rule.name}</code> <span class="muted">issuer ${rule.issuer}, line ${rule.line}</span></h3>
  <div class="columns">
    <div><h4>Binds claims</h4><ul class="claims">${rule.claims.map(
      (binding) => h`<li><code>${binding.claim}</code>: <code>${binding.matcher.description}</code></li>`,
    )}${conditionsOf(rule)}</ul>
    ${repositoryUnbound ? h`<p class="badge warn">binds no repository or project: any of its issuer's</p>` : ''}
    ${standing === 'by-id' ? h`<p class="badge warn">bound by repository/project id only: check the id</p>` : ''}</div>
    <div><h4>Grants patterns</h4><ul>${rule.secrets.map((grant) => h`<li><code>${grant.pattern}</code></li>`)}</ul>
    <h4>Stored names it grants (${grants.length})</h4>
    ${grantedNames(grants)}</div>
    <div>${lintFindings(findings)}</div>
  </div>
</section>`;
}

/** The page's rules as columns (at most a page of them), the names shown as rows. */
function grid(matrix: AccessMatrix): Html {
  const columns = matrix.rules.map((column) => ({ name: column.rule.name, grants: new Set(column.grants) }));
  if (columns.length === 0 || matrix.names.length === 0) return h``;
  return h`<h2>Grid</h2>
${matrix.pageCount > 1 ? h`<p class="muted">The rules of this page; the other pages have the others.</p>` : ''}
<div class="scroll"><table class="grid">
<thead><tr><th>Stored name</th>${columns.map((column) => h`<th><a href="#rule-${column.name}">${column.name}</a></th>`)}</tr></thead>
<tbody>${matrix.names.map(
    (name) =>
      h`<tr><th><code>${name}</code></th>${columns.map((column) =>
        column.grants.has(name) ? h`<td class="granted">✓</td>` : h`<td></td>`,
      )}</tr>`,
  )}</tbody>
</table></div>`;
}

function rulesShown(matrix: AccessMatrix): string {
  const kept = `${matrix.rulesMatching} of ${matrix.rulesInPolicy} rules`;
  return matrix.pageCount === 1
    ? `${kept} shown`
    : `${kept} kept, ${matrix.rules.length} on this page (page ${matrix.pageNumber} of ${matrix.pageCount})`;
}

export function matrixView(matrix: AccessMatrix, filter: MatrixFilter, policySource: string): Html {
  return h`<form class="filters" method="get" action="/ui/matrix">
  <label>Repository or project <input name="repository" value="${filter.repository ?? ''}" maxlength="256" placeholder="acme/api"></label>
  <label>Name prefix <input name="prefix" value="${filter.prefix ?? ''}" maxlength="256" placeholder="prod/"></label>
  <label>Rule <input name="rule" value="${filter.rule ?? ''}" maxlength="256"></label>
  <label>Grants the name <input name="secret" value="${filter.secret ?? ''}" maxlength="256" placeholder="prod/api/DB_PASSWORD"></label>
  <button type="submit">Filter</button> <a href="/ui/matrix">Clear</a>
</form>
${matrix.lint.ran ? '' : h`<p class="notice">${matrix.lint.reason}.</p>`}
<p class="muted">Policy <code>${policySource}</code>: ${rulesShown(matrix)}${filter.repository === undefined ? '' : h`; a rule is kept when one of its <code>repository</code>, <code>project_path</code>, <code>repository_id</code> or <code>project_id</code> bindings accepts <code>${filter.repository}</code>, when it binds none of them, or when it binds only ids`}. Patterns are expanded against ${matrix.names.length} stored ${matrix.names.length === 1 ? 'name' : 'names'}${matrix.namesLeftOut > 0 ? h` (the first ${MAX_MATRIX_NAMES}; ${matrix.namesLeftOut} more: narrow with the prefix)` : ''}.</p>
${matrix.rules.length === 0 ? h`<p class="notice">No rule matches this filter.</p>` : matrix.rules.map(ruleCard)}
${pager('/ui/matrix', { ...filter }, matrix.pageNumber, matrix.pageCount)}
${grid(matrix)}
<p class="muted"><a href="/ui/matrix${query({ ...filter, page: matrix.pageNumber > 1 ? matrix.pageNumber : undefined })}">Link to this view</a></p>`;
}
