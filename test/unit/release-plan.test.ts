import { describe, expect, it } from 'vitest';
import { planRelease } from '../../src/broker/exchange/release-plan.js';
import { evaluateRules, Grants } from '../../src/broker/policy/evaluate.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { parseRequestedEntry } from '../../src/protocol/secret-names.js';

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
    secrets: [prod/**, shared/A]
`,
  'p',
);
const grants = new Grants(evaluateRules(policy, 'gh', { repository_id: '1' }));
const stored = ['prod/a/X', 'prod/a/Y', 'prod/b/Z', 'shared/A', 'shared/B'];
const plan = (...entries: string[]) => planRelease(entries.map(parseRequestedEntry), grants, stored);

describe('release plan', () => {
  it('keeps exact granted names (stored or not) and marks which are required', () => {
    const result = plan('prod/a/X', 'prod/missing', 'shared/A?');
    expect([...result.names]).toEqual([
      ['prod/a/X', { required: true, entry: 'prod/a/X' }],
      ['prod/missing', { required: true, entry: 'prod/missing' }],
      ['shared/A', { required: false, entry: 'shared/A?' }],
    ]);
    expect(result.notGranted).toEqual([]);
  });

  it('expands a pattern only to granted stored names, sorted', () => {
    expect([...plan('*/*').names.keys()]).toEqual(['shared/A']);
    expect([...plan('prod/a/*').names.keys()]).toEqual(['prod/a/X', 'prod/a/Y']);
    expect([...plan('prod/**').names.keys()]).toEqual(['prod/a/X', 'prod/a/Y', 'prod/b/Z']);
  });

  it('lists ungranted non-optional entries and ignores optional ones', () => {
    expect(plan('shared/B', 'shared/B?', 'other/*', 'other/*?').notGranted).toEqual(['shared/B', 'other/*']);
  });

  it('calls an empty pattern inside a grant "not found", and one outside "not granted"', () => {
    const result = plan('prod/c/*', 'other/*');
    expect(result.emptyPatterns).toEqual(['prod/c/*']);
    expect(result.notGranted).toEqual(['other/*']);
  });

  it('a name asked for both optionally and not stays required', () => {
    expect(plan('prod/a/X?', 'prod/a/X').names.get('prod/a/X')).toEqual({
      required: true,
      entry: 'prod/a/X?',
    });
  });
});
