import { WorkBudget, type Meter } from '../../protocol/automaton.js';
import { parseRequestedEntry } from '../../protocol/secret-names.js';
import type { CompiledPolicy } from './compiled-policy.js';
import { denialReason, evaluateRules, Grants, type ClaimCheck } from './evaluate.js';

/**
 * Matching steps one explanation may spend: every claim of every rule and each entry against every grant are
 * worked out, so it may take more than an exchange, but it stays bounded (WorkBudgetExceededError beyond).
 */
export const EXPLAIN_STEPS = 2_000_000;

export interface RuleExplanation {
  readonly name: string;
  readonly line: number;
  readonly issuer: string;
  readonly issuer_matches: boolean;
  readonly matched: boolean;
  readonly claims: readonly ClaimCheck[];
}

export interface SecretExplanation {
  readonly entry: string;
  readonly granted: boolean;
  /** Matched rules that grant it. */
  readonly rules: readonly string[];
  /** Why not, when not granted. */
  readonly reason: string | null;
}

export interface Explanation {
  readonly issuer: string | null;
  readonly issuer_url: string | null;
  readonly note: string | null;
  readonly rules: readonly RuleExplanation[];
  readonly matched_rules: readonly string[];
  readonly secrets: readonly SecretExplanation[];
}

/**
 * What the policy decides for a set of claims, rule by rule and claim by claim, and for each requested entry.
 * It uses the same evaluation as the exchange; it does not verify any signature and does not look at the store.
 */
export function explainDecision(
  policy: CompiledPolicy,
  claims: Readonly<Record<string, unknown>>,
  requested: readonly string[],
  budget: Meter = new WorkBudget(EXPLAIN_STEPS),
): Explanation {
  const issuerUrl = typeof claims.iss === 'string' ? claims.iss : null;
  const issuer = issuerUrl === null ? undefined : policy.issuersByUrl.get(issuerUrl);
  const issuerName = issuer?.name ?? '';
  const evaluations = evaluateRules(policy, issuerName, claims, budget);
  const grants = new Grants(
    evaluations.filter((evaluation) => evaluation.matched).map((evaluation) => evaluation.rule),
    budget,
  );
  const note =
    issuer !== undefined
      ? null
      : issuerUrl === null
        ? 'the claims have no "iss": no rule can match'
        : `issuer ${issuerUrl} is not in the policy: the broker refuses its tokens (unknown_issuer) before any rule is checked`;
  return {
    issuer: issuer?.name ?? null,
    issuer_url: issuerUrl,
    note,
    rules: evaluations.map((evaluation) => ({
      name: evaluation.rule.name,
      line: evaluation.rule.line,
      issuer: evaluation.rule.issuer,
      issuer_matches: evaluation.issuerMatches,
      matched: evaluation.matched,
      claims: evaluation.checks,
    })),
    matched_rules: grants.matchedRuleNames,
    secrets: requested.map((raw) => {
      const entry = parseRequestedEntry(raw);
      // A pattern is granted when a matched rule grants some name it matches, as the exchange decides.
      const rules = grants.rulesGranting(entry.glob);
      const granted = rules.length > 0;
      return {
        entry: raw,
        granted,
        rules,
        reason: granted
          ? null
          : denialReason(policy.rules, entry.glob, issuerName || '(none)', claims, budget),
      };
    }),
  };
}
