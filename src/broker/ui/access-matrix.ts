import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy.js';
import type { LintFinding } from '../policy/lint.js';
import { dashboardLint, type DashboardLint } from './dashboard-lint.js';
import { ruleGrants } from './grants.js';

/** Stored names the matrix expands patterns against at once; more are narrowed with the prefix filter. */
export const MAX_MATRIX_NAMES = 200;
/** Rule cards a page shows; the grid's columns are the same rules. */
export const MATRIX_RULES_PAGE_SIZE = 50;

/** Claims that name a repository or project: by path, and by immutable id. */
const PATH_CLAIMS = ['repository', 'project_path'];
const ID_CLAIMS = ['repository_id', 'project_id'];

/**
 * How a rule stands to the repository filter: one of its repository/project bindings accepts the value (`match`),
 * it binds none (`unbound`: any repository of its issuer), or it binds only ids, which a path cannot be checked
 * against (`by-id`). Rules whose path bindings refuse the value are left out.
 */
export type RepositoryStanding = 'match' | 'unbound' | 'by-id';

export interface MatrixRule {
  readonly rule: CompiledRule;
  /** The stored names one of its patterns matches. */
  readonly grants: readonly string[];
  /** Its lint findings; undefined when lint was not run here (see AccessMatrix.lint). */
  readonly findings: readonly LintFinding[] | undefined;
  /** True when the rule binds no repository or project at all, by path or id. */
  readonly repositoryUnbound: boolean;
  /** With a repository filter: how the rule stands to it. */
  readonly standing: RepositoryStanding | undefined;
}

export interface MatrixFilter {
  readonly repository?: string | undefined;
  readonly rule?: string | undefined;
  /** A stored name: only the rules that grant it. */
  readonly secret?: string | undefined;
}

export interface AccessMatrix {
  /** The rules of this page. */
  readonly rules: readonly MatrixRule[];
  /** The rules the filter keeps, on every page. */
  readonly rulesMatching: number;
  readonly rulesInPolicy: number;
  readonly pageNumber: number;
  readonly pageCount: number;
  readonly names: readonly string[];
  /** Stored names left out beyond MAX_MATRIX_NAMES. */
  readonly namesLeftOut: number;
  /** Whether the dashboard linted this policy, and why not when it did not. */
  readonly lint: DashboardLint;
}

function bindsRepository(rule: CompiledRule): boolean {
  return rule.claims.some(
    (binding) => PATH_CLAIMS.includes(binding.claim) || ID_CLAIMS.includes(binding.claim),
  );
}

/** The rule's standing to a repository filter value (a path or an id); undefined when it refuses the value. */
export function repositoryStanding(rule: CompiledRule, value: string): RepositoryStanding | undefined {
  const paths = rule.claims.filter((binding) => PATH_CLAIMS.includes(binding.claim));
  const ids = rule.claims.filter((binding) => ID_CLAIMS.includes(binding.claim));
  if (paths.length === 0 && ids.length === 0) return 'unbound';
  if ([...paths, ...ids].some((binding) => binding.matcher.matches([value]))) return 'match';
  return paths.length === 0 ? 'by-id' : undefined;
}

function keeps(rule: CompiledRule, filter: MatrixFilter): boolean {
  return (
    (filter.rule === undefined || rule.name === filter.rule) &&
    (filter.secret === undefined || ruleGrants(rule, filter.secret))
  );
}

/**
 * Rules × stored names, one page of rules at a time: each rule of the page with its patterns expanded against the
 * stored names and its lint findings. Only the page's rules are expanded, so the work and the page stay bounded
 * whatever the size of the policy.
 */
export function accessMatrix(
  policy: CompiledPolicy,
  storedNames: readonly string[],
  filter: MatrixFilter,
  requestedPage = 1,
): AccessMatrix {
  const names = storedNames.slice(0, MAX_MATRIX_NAMES);
  const lint = dashboardLint(policy);
  const { repository } = filter;
  const kept = policy.rules
    .filter((rule) => keeps(rule, filter))
    .map((rule) => ({
      rule,
      standing: repository === undefined ? undefined : repositoryStanding(rule, repository),
    }))
    .filter(({ standing }) => repository === undefined || standing !== undefined);
  const pageCount = Math.max(1, Math.ceil(kept.length / MATRIX_RULES_PAGE_SIZE));
  const pageNumber = Math.min(Math.max(1, requestedPage), pageCount);
  const rules = kept
    .slice((pageNumber - 1) * MATRIX_RULES_PAGE_SIZE, pageNumber * MATRIX_RULES_PAGE_SIZE)
    .map(({ rule, standing }) => ({
      rule,
      grants: names.filter((name) => ruleGrants(rule, name)),
      findings: lint.ran ? (lint.byRule.get(rule.name) ?? []) : undefined,
      repositoryUnbound: !bindsRepository(rule),
      standing,
    }));
  return {
    rules,
    rulesMatching: kept.length,
    rulesInPolicy: policy.rules.length,
    pageNumber,
    pageCount,
    names,
    namesLeftOut: storedNames.length - names.length,
    lint,
  };
}
