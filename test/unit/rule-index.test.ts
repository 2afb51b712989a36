/** The rule index: a lookup evaluates only the rules that may match, and finds exactly what a scan of every rule finds. */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { evaluateRules, matchingRules } from '../../src/broker/policy/evaluate.js';
import { candidateRules } from '../../src/broker/policy/rule-index.js';
import { compileClaimMatcher } from '../../src/broker/policy/matchers.js';
import type { CompiledPolicy } from '../../src/broker/policy/compiled-policy.js';

const ISSUERS = {
  gh: { url: 'https://token.actions.githubusercontent.com' },
  gl: { url: 'https://gitlab.example.com' },
};

type Claims = Record<string, unknown>;

function policyOf(rules: readonly { issuer: string; claims: Record<string, unknown> }[]): CompiledPolicy {
  const document = {
    version: '1',
    audience: 'https://secrets.example.com',
    issuers: ISSUERS,
    rules: rules.map((rule, index) => ({ name: `r${index}`, ...rule, secrets: [`s/${index}`] })),
  };
  return parsePolicy(stringify(document), 'policy.yaml');
}

/** What a scan of every rule decides (explain's evaluation), in policy order. */
function scannedMatches(policy: CompiledPolicy, issuer: string, claims: Claims): string[] {
  return evaluateRules(policy, issuer, claims)
    .filter((evaluation) => evaluation.matched)
    .map((evaluation) => evaluation.rule.name);
}

/** Claim matcher calls made while `run` runs: every rule that is evaluated calls at least one. */
function matcherCalls(policy: CompiledPolicy, run: () => void): number {
  const spies = policy.rules.flatMap((rule) =>
    rule.claims.map((binding) => vi.spyOn(binding.matcher, 'matches')),
  );
  try {
    run();
    return spies.reduce((total, spy) => total + spy.mock.calls.length, 0);
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** N rules of one repository each (an exact id, a branch glob), plus two that bind no claim exactly. */
function repositoryPolicy(count: number): CompiledPolicy {
  return policyOf([
    { issuer: 'gh', claims: { repository: { regex: 'acme/.*' } } },
    ...Array.from({ length: count }, (_, index) => ({
      issuer: 'gh',
      claims: { repository_id: String(1000 + index), ref: 'refs/heads/*', actor: { not: 'mallory' } },
    })),
    { issuer: 'gh', claims: { sub: 'repo:acme/api:ref:**' } },
    ...Array.from({ length: count }, (_, index) => ({
      issuer: 'gl',
      claims: { project_id: String(1000 + index) },
    })),
  ]);
}

const TOKEN: Claims = {
  repository_id: '1005',
  repository: 'acme/api',
  ref: 'refs/heads/main',
  actor: 'alice',
  sub: 'repo:acme/api:ref:refs/heads/main',
};

describe('rule lookup', () => {
  it('evaluates the same rules for 10 and for 1000 rules: the token’s own and those with no exact claim', () => {
    const calls = (policy: CompiledPolicy): number => {
      const count = (policy.rules.length - 2) / 2;
      expect(candidateRules(policy, 'gh', TOKEN).map((rule) => rule.name)).toEqual([
        'r0',
        'r6',
        `r${count + 1}`,
      ]);
      let matched: string[] = [];
      const total = matcherCalls(policy, () => {
        matched = matchingRules(policy, 'gh', TOKEN).map((rule) => rule.name);
      });
      expect(matched).toEqual(['r0', 'r6', `r${count + 1}`]);
      return total;
    };
    const few = calls(repositoryPolicy(10));
    const large = repositoryPolicy(1000);
    const many = calls(large);
    // r0 and the last rule: one claim each; the token's rule: its three claims.
    expect(few).toBe(5);
    expect(many).toBeLessThanOrEqual(1.5 * few);
    // What a scan of every rule of the issuer would have cost.
    expect(matcherCalls(large, () => evaluateRules(large, 'gh', TOKEN))).toBeGreaterThan(100 * few);
  });

  it('evaluates no rule of another issuer, and none for a token without the filed claim', () => {
    const policy = policyOf(
      Array.from({ length: 1000 }, (_, index) => ({ issuer: 'gl', claims: { project_id: String(index) } })),
    );
    expect(matcherCalls(policy, () => matchingRules(policy, 'gh', { project_id: '5' }))).toBe(0);
    expect(matcherCalls(policy, () => matchingRules(policy, 'gl', { project_path: 'acme/api' }))).toBe(0);
    expect(matcherCalls(policy, () => matchingRules(policy, 'gl', { project_id: '5' }))).toBe(1);
  });

  it('finds a rule under each of its exact alternatives, for every value of an array claim', () => {
    const policy = policyOf([
      { issuer: 'gh', claims: { repository_id: ['1', '2'], event_name: ['push', 'workflow_dispatch'] } },
      { issuer: 'gh', claims: { groups: ['admins', 'ops'] } },
    ]);
    expect(
      matchingRules(policy, 'gh', { repository_id: '2', event_name: 'push' }).map((r) => r.name),
    ).toEqual(['r0']);
    expect(matchingRules(policy, 'gh', { groups: ['dev', 'ops'] }).map((r) => r.name)).toEqual(['r1']);
    expect(matchingRules(policy, 'gh', { groups: ['dev'] })).toEqual([]);
  });

  it('compares numbers and booleans as their string form, and case-sensitively, as a scan does', () => {
    const policy = policyOf([
      { issuer: 'gh', claims: { repository_id: '42' } },
      { issuer: 'gh', claims: { repository: 'Acme/API' } },
      { issuer: 'gh', claims: { ref_protected: 'true' } },
    ]);
    expect(matchingRules(policy, 'gh', { repository_id: 42 }).map((rule) => rule.name)).toEqual(['r0']);
    expect(matchingRules(policy, 'gh', { repository_id: 42.0 }).map((rule) => rule.name)).toEqual(['r0']);
    expect(matchingRules(policy, 'gh', { repository_id: '042' })).toEqual([]);
    expect(matchingRules(policy, 'gh', { repository: 'acme/api' })).toEqual([]);
    expect(matchingRules(policy, 'gh', { ref_protected: true }).map((rule) => rule.name)).toEqual(['r2']);
  });

  it('returns matches in policy order whatever claim each rule is filed under', () => {
    const policy = policyOf([
      { issuer: 'gh', claims: { sub: 'repo:acme/api:ref:refs/heads/main' } },
      { issuer: 'gh', claims: { actor: { not: 'mallory' } } },
      { issuer: 'gh', claims: { repository_id: '1005' } },
      { issuer: 'gh', claims: { repository: 'acme/api', sub: 'repo:acme/api:ref:**' } },
    ]);
    expect(matchingRules(policy, 'gh', TOKEN).map((rule) => rule.name)).toEqual(['r0', 'r1', 'r2', 'r3']);
  });
});

const CLAIM_NAMES = ['repository_id', 'project_id', 'repository', 'sub', 'ref', 'groups'] as const;
/** Values chosen to collide: numbers and their string forms, case variants, glob-looking text. */
const exactText = fc.constantFrom('1', '01', '1.5', 'true', 'a', 'A', 'b', 'a*', 'ab');
const matcherSpec: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  spec: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    exactText,
    fc.constantFrom('a*', '?', '{a,b}', '{1,01}'),
    fc.array(tie('spec'), { minLength: 1, maxLength: 3 }),
    fc.record({ regex: fc.constantFrom('a.*', '1|01', 'true') }),
    fc.record({ not: tie('spec') }),
  ),
})).spec;
const ruleSpec = fc.record({
  issuer: fc.constantFrom('gh', 'gl'),
  claims: fc.dictionary(fc.constantFrom(...CLAIM_NAMES), matcherSpec, { minKeys: 1, maxKeys: 3 }),
});
const claimValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom('1', '01', '1.5', 'true', 'a', 'A', 'b', 'a*', 'ab', ''), weight: 6 },
  { arbitrary: fc.constantFrom(1, 1.5, 1.0, 0, true, false, null), weight: 3 },
  { arbitrary: fc.constant({ a: '1' }), weight: 1 },
);
const tokenClaims = fc.dictionary(
  fc.constantFrom(...CLAIM_NAMES),
  fc.oneof(
    { arbitrary: claimValue, weight: 3 },
    { arbitrary: fc.array(claimValue, { maxLength: 3 }), weight: 1 },
  ),
  { minKeys: 2 },
);

describe('rule lookup properties', () => {
  it('matches exactly the rules a scan of every rule matches, in the same order', () => {
    fc.assert(
      fc.property(
        fc.array(ruleSpec, { maxLength: 10 }),
        fc.constantFrom('gh', 'gh', 'gl', 'other'),
        tokenClaims,
        (rules, issuer, claims) => {
          const policy = policyOf(rules);
          expect(matchingRules(policy, issuer, claims).map((rule) => rule.name)).toEqual(
            scannedMatches(policy, issuer, claims),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a matcher with exact values matches exactly the values among them', () => {
    fc.assert(
      fc.property(matcherSpec, fc.array(exactText, { minLength: 1, maxLength: 3 }), (spec, values) => {
        const matcher = compileClaimMatcher(spec);
        if (matcher.exactValues === undefined) return;
        const exact = matcher.exactValues;
        expect(matcher.matches(values)).toBe(values.some((value) => exact.includes(value)));
      }),
      { numRuns: 500 },
    );
  });
});
