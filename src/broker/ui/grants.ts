import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy.js';

/** Whether one of the rule's `secrets` patterns matches the stored name (a linear glob test each). */
export function ruleGrants(rule: CompiledRule, name: string): boolean {
  return rule.secrets.some((grant) => grant.glob.test(name));
}

/** The names of the rules that grant `name`, in policy order. */
export function grantingRules(policy: CompiledPolicy, name: string): string[] {
  return policy.rules.filter((rule) => ruleGrants(rule, name)).map((rule) => rule.name);
}
