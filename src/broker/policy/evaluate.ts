import type { Meter } from '../../protocol/automaton.js';
import { quoted } from '../../protocol/quoted.js';
import type { Glob } from '../../protocol/glob.js';
import { claimValues } from './matchers.js';
import { candidateRules } from './rule-index.js';
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

type Claims = Readonly<Record<string, unknown>>;

/**
 * The rules that match a verified token, in policy order: its issuer, then each claim of the rule cheapest first,
 * stopping at the first that fails. Only the rules the index offers for the token are evaluated; the others
 * cannot match. Deny by default: only these rules grant.
 */
export function matchingRules(
  policy: CompiledPolicy,
  issuerName: string,
  claims: Claims,
  meter?: Meter,
): CompiledRule[] {
  return candidateRules(policy, issuerName, claims).filter(
    (rule) =>
      rule.issuer === issuerName &&
      rule.claimsByCost.every(({ claim, matcher }) => {
        const actual = claimValues(claims, claim);
        // A claim the token lacks never matches, not even a {not: ...} matcher.
        return actual !== undefined && matcher.matches(actual, meter);
      }),
  );
}

/** Every claim of one rule checked, for explain output and denial hints. */
export function evaluateRule(
  rule: CompiledRule,
  issuerName: string,
  claims: Claims,
  meter?: Meter,
): RuleEvaluation {
  const issuerMatches = rule.issuer === issuerName;
  const checks = rule.claims.map(({ claim, matcher }) => {
    const actual = claimValues(claims, claim);
    return {
      claim,
      expected: matcher.description,
      actual,
      matched: actual !== undefined && matcher.matches(actual, meter),
    };
  });
  return { rule, issuerMatches, checks, matched: issuerMatches && checks.every((check) => check.matched) };
}

export function evaluateRules(
  policy: CompiledPolicy,
  issuerName: string,
  claims: Claims,
  meter?: Meter,
): RuleEvaluation[] {
  return policy.rules.map((rule) => evaluateRule(rule, issuerName, claims, meter));
}

/** Whether one of the rule's grants covers `entry`: grants the name, or some name the pattern matches. */
function grantsAnyOf(rule: CompiledRule, entry: Glob, meter?: Meter): boolean {
  return rule.secrets.some((grant) => grant.glob.intersects(entry, meter));
}

/** The grants of the matched rules: a union, since rules only add. */
export class Grants {
  constructor(
    private readonly matchedRules: readonly CompiledRule[],
    private readonly meter?: Meter,
  ) {}

  get matchedRuleNames(): string[] {
    return this.matchedRules.map((rule) => rule.name);
  }

  /** Names of the matched rules that grant `entry` (a name) or some name it matches (a pattern). */
  rulesGranting(entry: Glob): string[] {
    return this.matchedRules.filter((rule) => grantsAnyOf(rule, entry, this.meter)).map((rule) => rule.name);
  }

  /** Not charged to the meter: the admin's globs against a name, never a requester's pattern. */
  isGranted(secretName: string): boolean {
    return this.matchedRules.some((rule) => rule.secrets.some((grant) => grant.glob.test(secretName)));
  }

  /** Whether some name the pattern matches is granted: decided on the patterns, before any name is read. */
  overlaps(pattern: Glob): boolean {
    return this.matchedRules.some((rule) => grantsAnyOf(rule, pattern, this.meter));
  }

  /** Every granted name starts with one of these: the literal prefix of each grant. */
  get namePrefixes(): string[] {
    const prefixes = this.matchedRules.flatMap((rule) =>
      rule.secrets.map((grant) => grant.glob.literalPrefix),
    );
    return [...new Set(prefixes)];
  }
}

/**
 * Explains why `entry` (a name, or a pattern) was not granted: which rule came closest and which claim
 * failed. Rules are only named when they would grant the entry, so the hint reveals no other secret name.
 */
export function denialReason(
  rules: readonly CompiledRule[],
  entry: Glob,
  issuerName: string,
  claims: Claims,
  meter?: Meter,
): string {
  const text = entry.pattern;
  const candidates = rules
    .filter((rule) => grantsAnyOf(rule, entry, meter))
    .map((rule) => evaluateRule(rule, issuerName, claims, meter));
  if (candidates.length === 0) {
    return `no rule grants "${text}": an admin must add it to the secrets of a rule that matches this workload`;
  }
  const sameIssuer = candidates.filter((evaluation) => evaluation.issuerMatches);
  if (sameIssuer.length === 0) {
    const other = candidates[0] as RuleEvaluation;
    return `rule "${other.rule.name}" grants "${text}" only to tokens of issuer "${other.rule.issuer}"; this token is from issuer "${issuerName}"`;
  }
  const closest = sameIssuer.reduce((best, candidate) =>
    failedChecks(candidate).length < failedChecks(best).length ? candidate : best,
  );
  const failures = failedChecks(closest).map(describeFailure).join(', and ');
  return `rule "${closest.rule.name}" came closest to granting "${text}": ${failures}`;
}

function failedChecks(evaluation: RuleEvaluation): ClaimCheck[] {
  return evaluation.checks.filter((check) => !check.matched);
}

const MAX_VALUE_IN_HINT = 200;

function describeFailure(check: ClaimCheck): string {
  if (check.actual === undefined)
    return `the token has no "${check.claim}" claim (the rule wants ${check.expected})`;
  // Claim values are the token's text: shown escaped and cut short, never raw.
  const actual =
    check.actual.length === 1
      ? quoted(check.actual[0], MAX_VALUE_IN_HINT)
      : `[${check.actual.map((value) => quoted(value, MAX_VALUE_IN_HINT)).join(', ')}]`;
  return `claim "${check.claim}" is ${actual} but the rule wants ${check.expected}`;
}
