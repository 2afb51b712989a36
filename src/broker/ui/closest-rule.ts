import type { ExplainResponse } from '../../protocol/admin-api.js';

export interface ClosestRule {
  readonly name: string;
  readonly matchedClaims: number;
  readonly claims: number;
  readonly failing: ExplainResponse['rules'][number]['claims'];
}

/**
 * The rule of the token's issuer that comes nearest to granting `secret` (or, without one, to matching at all): the
 * one with the most matching claims, first in policy order on a tie, among those whose patterns grant the secret when
 * any does. What it fails on is what to change.
 */
export function closestRule(
  explanation: ExplainResponse,
  grantsSecret: (rule: string) => boolean,
): ClosestRule | undefined {
  const candidates = explanation.rules.filter((rule) => rule.issuer_matches);
  const granting = candidates.filter((rule) => grantsSecret(rule.name));
  let best: ClosestRule | undefined;
  for (const rule of granting.length > 0 ? granting : candidates) {
    const matchedClaims = rule.claims.filter((check) => check.matched).length;
    if (best === undefined || matchedClaims > best.matchedClaims) {
      best = {
        name: rule.name,
        matchedClaims,
        claims: rule.claims.length,
        failing: rule.claims.filter((check) => !check.matched),
      };
    }
  }
  return best;
}
