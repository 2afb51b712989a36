import type { Meter } from '../../src/protocol/automaton.js';
import { Grants, matchingRules } from '../../src/broker/policy/evaluate.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';

/**
 * The grants of a workload whose one matching rule (issuer gh, repository_id "1") grants `secrets`. Throws what
 * parsePolicy throws for a grant the policy refuses. `meter` is charged as an exchange's budget is.
 */
export function grantsOf(secrets: readonly string[], meter?: Meter): Grants {
  const policy = parsePolicy(
    `version: 1
audience: a
issuers:
  gh:
    url: https://token.actions.githubusercontent.com
rules:
  - name: r
    issuer: gh
    claims: { repository_id: "1" }
    secrets: [${secrets.map((secret) => JSON.stringify(secret)).join(', ')}]
`,
    'p',
  );
  return new Grants(matchingRules(policy, 'gh', { repository_id: '1' }, meter), meter);
}
