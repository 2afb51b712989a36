import type { Meter } from '../../protocol/automaton.js';
import type { RequestedEntry } from '../../protocol/secret-names.js';
import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy.js';
import { failedCondition, type ConditionContext, type ConditionFailure } from '../policy/conditions.js';
import { Grants, matchingRules } from '../policy/evaluate.js';
import type { VerifiedToken } from '../oidc/token-verifier.js';

/** A rule whose claims match the token but one of whose `when` conditions does not hold now. */
export interface HeldBackRule {
  readonly rule: CompiledRule;
  readonly failure: ConditionFailure;
}

/** The rules whose claims match a token, split by their conditions at this request. */
export interface RuleStanding {
  /** What the rules whose conditions hold grant: only these grant anything. */
  readonly grants: Grants;
  readonly heldBack: readonly HeldBackRule[];
}

/** Matches the token's claims (charged to `meter`), then checks each matched rule's `when` against `context`. */
export function ruleStanding(
  policy: CompiledPolicy,
  verified: VerifiedToken,
  context: ConditionContext,
  meter: Meter,
): RuleStanding {
  const holding: CompiledRule[] = [];
  const heldBack: HeldBackRule[] = [];
  for (const rule of matchingRules(policy, verified.issuer.name, verified.claims, meter)) {
    const failure = failedCondition(rule, context);
    if (failure === undefined) holding.push(rule);
    else heldBack.push({ rule, failure });
  }
  return { grants: new Grants(holding, meter), heldBack };
}

/** The held-back rule that would grant `entry` (one of its names, or some name its pattern matches), if any. */
export function heldBackFor(
  entry: RequestedEntry,
  heldBack: readonly HeldBackRule[],
  meter: Meter,
): HeldBackRule | undefined {
  return heldBack.find(({ rule }) => {
    const grants = new Grants([rule], meter);
    return entry.isPattern
      ? grants.overlaps(entry.glob)
      : entry.alternatives.some((reference) => grants.isGranted(reference.name));
  });
}
