import { WorkBudget, WorkBudgetExceededError, type Meter } from '../../protocol/automaton.js';
import type { CompiledPolicy, CompiledSecretGrant } from '../policy/compiled-policy.js';
import { lintPolicy, type LintFinding } from '../policy/lint.js';

/**
 * Lint compares every pair of rules (mixed-strength: do their secret patterns overlap?), so its time grows with the
 * square of the rules and of their patterns. The dashboard lints on the event loop, so only a policy this small.
 */
export const LINT_MAX_RULES = 200;
/**
 * Matching steps that comparison may take here, measured first (and abandoned beyond): about 10 ms of one core, and
 * as much again for lint itself when it runs. 150 ordinary rules of three patterns stay under it (about 30 ms in
 * all); a dozen rules whose patterns start with wildcards and share nothing can need hundreds of millions.
 */
export const LINT_MAX_STEPS = 250_000;

export type DashboardLint =
  | {
      readonly ran: true;
      readonly findings: readonly LintFinding[];
      /** The findings by the rule (or issuer path) they are about. */
      readonly byRule: ReadonlyMap<string, readonly LintFinding[]>;
    }
  | { readonly ran: false; readonly reason: string };

/**
 * The pattern comparisons mixed-strength makes (each pair of rules, each pair of their patterns until one overlaps),
 * charged to `meter`, which throws once they exceed its budget. Kept to lint.ts's order of work on purpose: it is
 * the estimate of what lint will spend.
 */
function compareGrants(policy: CompiledPolicy, meter: Meter): void {
  const { rules } = policy;
  for (let first = 0; first < rules.length; first += 1) {
    for (let second = first + 1; second < rules.length; second += 1) {
      meter.spend(1);
      grantsOverlap(rules[first]?.secrets ?? [], rules[second]?.secrets ?? [], meter);
    }
  }
}

function grantsOverlap(
  mine: readonly CompiledSecretGrant[],
  theirs: readonly CompiledSecretGrant[],
  meter: Meter,
): boolean {
  for (const grant of mine) {
    for (const other of theirs) {
      meter.spend(1);
      if (grant.glob.intersects(other.glob, meter)) return true;
    }
  }
  return false;
}

function notRun(policy: CompiledPolicy, why: string): DashboardLint {
  return {
    ran: false,
    reason: `lint not run here: ${why}; run \`secrets-broker policy lint ${policy.source}\``,
  };
}

function lintWithinBudget(policy: CompiledPolicy): DashboardLint {
  const count = policy.rules.length;
  if (count > LINT_MAX_RULES)
    return notRun(policy, `${count} rules (the dashboard lints up to ${LINT_MAX_RULES})`);
  try {
    compareGrants(policy, new WorkBudget(LINT_MAX_STEPS));
  } catch (error) {
    if (!(error instanceof WorkBudgetExceededError)) throw error;
    return notRun(
      policy,
      `comparing the secret patterns of ${count} rules needs more than ${LINT_MAX_STEPS} matching steps`,
    );
  }
  const findings = lintPolicy(policy);
  const byRule = new Map<string, LintFinding[]>();
  for (const finding of findings) {
    const list = byRule.get(finding.rule);
    if (list === undefined) byRule.set(finding.rule, [finding]);
    else list.push(finding);
  }
  return { ran: true, findings, byRule };
}

/** The outcome for each policy object, worked out once (a reload makes a new one). */
const outcomes = new WeakMap<CompiledPolicy, DashboardLint>();

/** The policy's lint findings when it is small enough to lint on the event loop; otherwise why not, and how. */
export function dashboardLint(policy: CompiledPolicy): DashboardLint {
  let outcome = outcomes.get(policy);
  if (outcome === undefined) {
    outcome = lintWithinBudget(policy);
    outcomes.set(policy, outcome);
  }
  return outcome;
}
