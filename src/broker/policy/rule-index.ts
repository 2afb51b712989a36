import { claimValues } from './matchers.js';
import type {
  CompiledClaimBinding,
  CompiledPolicy,
  CompiledRule,
  IssuerRuleIndex,
} from './compiled-policy.js';

/**
 * Claims that name one workload, the most selective first. A rule is filed under the first of these it binds
 * exactly, else under the first claim it binds exactly. The choice changes how many rules a lookup evaluates,
 * never which rules match.
 */
const PREFERRED_CLAIMS: readonly string[] = [
  'repository_id',
  'project_id',
  'repository',
  'project_path',
  'sub',
  'job_workflow_ref',
  'workflow_ref',
  'ci_config_ref_uri',
  'repository_owner_id',
  'namespace_id',
  'repository_owner',
  'namespace_path',
];

function preference(binding: CompiledClaimBinding): number {
  const rank = PREFERRED_CLAIMS.indexOf(binding.claim);
  return rank === -1 ? PREFERRED_CLAIMS.length : rank;
}

/** The claim a rule is filed under: one it binds exactly, or undefined when it binds none exactly. */
function filingClaim(rule: CompiledRule): CompiledClaimBinding | undefined {
  let best: CompiledClaimBinding | undefined;
  for (const binding of rule.claims) {
    if (binding.matcher.exactValues === undefined) continue;
    if (best === undefined || preference(binding) < preference(best)) best = binding;
  }
  return best;
}

interface IssuerRuleIndexBuilder {
  readonly byClaim: Map<string, Map<string, number[]>>;
  readonly scan: number[];
}

/** Files every rule of the policy, once, when it is compiled. */
export function indexRules(rules: readonly CompiledRule[]): ReadonlyMap<string, IssuerRuleIndex> {
  const byIssuer = new Map<string, IssuerRuleIndexBuilder>();
  rules.forEach((rule, position) => {
    let issuer = byIssuer.get(rule.issuer);
    if (issuer === undefined) {
      issuer = { byClaim: new Map(), scan: [] };
      byIssuer.set(rule.issuer, issuer);
    }
    const binding = filingClaim(rule);
    if (binding === undefined) {
      issuer.scan.push(position);
      return;
    }
    let byValue = issuer.byClaim.get(binding.claim);
    if (byValue === undefined) {
      byValue = new Map();
      issuer.byClaim.set(binding.claim, byValue);
    }
    for (const value of new Set(binding.matcher.exactValues)) {
      const positions = byValue.get(value);
      if (positions === undefined) byValue.set(value, [position]);
      else positions.push(position);
    }
  });
  return byIssuer;
}

/**
 * The rules that may match a token of `issuerName`, in policy order: every rule that matches is among them (a
 * rule filed under a claim matches only if the token has one of the values it is filed under), but a candidate
 * still has to be evaluated.
 */
export function candidateRules(
  policy: CompiledPolicy,
  issuerName: string,
  claims: Readonly<Record<string, unknown>>,
): CompiledRule[] {
  const index = policy.ruleIndex.get(issuerName);
  if (index === undefined) return [];
  const positions = new Set(index.scan);
  for (const [claim, byValue] of index.byClaim) {
    for (const value of claimValues(claims, claim) ?? []) {
      for (const position of byValue.get(value) ?? []) positions.add(position);
    }
  }
  return [...positions].sort((a, b) => a - b).map((position) => policy.rules[position] as CompiledRule);
}
