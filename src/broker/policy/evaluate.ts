import { claimValues } from './matchers.js';
import type { CompiledPolicy, CompiledRule } from './compiled-policy.js';

export interface ClaimCheck {
  readonly claim: string;
  readonly expected: string;
  /** The token's values for the claim; undefined when the token lacks it. */
  readonly actual: readonly string[] | undefined;
  readonly matched: boolean;
}

export interface RuleEvaluation {
  readonly rule: CompiledRule;
  readonly issuerMatches: boolean;
  /** Every claim binding of the rule, checked (also for rules of other issuers, so explain can show them). */
  readonly checks: readonly ClaimCheck[];
  readonly matched: boolean;
}

/** Checks every rule against a verified token's issuer and claims. Deny by default: only matched rules grant. */
export function evaluateRules(
  policy: CompiledPolicy,
  issuerName: string,
  claims: Readonly<Record<string, unknown>>,
): RuleEvaluation[] {
  return policy.rules.map((rule) => {
    const issuerMatches = rule.issuer === issuerName;
    const checks = rule.claims.map(({ claim, matcher }) => {
      const actual = claimValues(claims, claim);
      // A claim the token lacks never matches, not even a {not: ...} matcher.
      return {
        claim,
        expected: matcher.description,
        actual,
        matched: actual !== undefined && matcher.matches(actual),
      };
    });
    return { rule, issuerMatches, checks, matched: issuerMatches && checks.every((check) => check.matched) };
  });
}

/** The grants of the matched rules: a union, since rules only add. */
export class Grants {
  private readonly matchedRules: readonly CompiledRule[];

  constructor(readonly evaluations: readonly RuleEvaluation[]) {
    this.matchedRules = evaluations
      .filter((evaluation) => evaluation.matched)
      .map((evaluation) => evaluation.rule);
  }

  get matchedRuleNames(): string[] {
    return this.matchedRules.map((rule) => rule.name);
  }

  /** Names of the matched rules that grant `secretName`; empty when it is not granted. */
  rulesGranting(secretName: string): string[] {
    return this.matchedRules
      .filter((rule) => rule.secrets.some((grant) => grant.matches(secretName)))
      .map((rule) => rule.name);
  }

  isGranted(secretName: string): boolean {
    return this.matchedRules.some((rule) => rule.secrets.some((grant) => grant.matches(secretName)));
  }
}

/**
 * Explains why `entry` (a name, or a pattern's text) was not granted: which rule came closest and which claim
 * failed. Rules are only named when they would grant the entry, so the hint reveals no other secret name.
 */
export function denialReason(
  evaluations: readonly RuleEvaluation[],
  entry: string,
  issuerName: string,
): string {
  const candidates = evaluations.filter((evaluation) =>
    evaluation.rule.secrets.some((grant) => grant.matches(entry)),
  );
  if (candidates.length === 0) {
    return `no rule grants "${entry}": an admin must add it to the secrets of a rule that matches this workload`;
  }
  const sameIssuer = candidates.filter((evaluation) => evaluation.issuerMatches);
  if (sameIssuer.length === 0) {
    const other = candidates[0] as RuleEvaluation;
    return `rule "${other.rule.name}" grants "${entry}" only to tokens of issuer "${other.rule.issuer}"; this token is from issuer "${issuerName}"`;
  }
  const closest = sameIssuer.reduce((best, candidate) =>
    failedChecks(candidate).length < failedChecks(best).length ? candidate : best,
  );
  const failures = failedChecks(closest).map(describeFailure).join(', and ');
  return `rule "${closest.rule.name}" came closest to granting "${entry}": ${failures}`;
}

function failedChecks(evaluation: RuleEvaluation): ClaimCheck[] {
  return evaluation.checks.filter((check) => !check.matched);
}

function describeFailure(check: ClaimCheck): string {
  if (check.actual === undefined)
    return `the token has no "${check.claim}" claim (the rule wants ${check.expected})`;
  const actual = check.actual.length === 1 ? JSON.stringify(check.actual[0]) : JSON.stringify(check.actual);
  return `claim "${check.claim}" is ${actual} but the rule wants ${check.expected}`;
}
