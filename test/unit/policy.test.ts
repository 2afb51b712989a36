import { describe, expect, it } from 'vitest';
import {
  loadPolicyFile,
  parsePolicy,
  PolicyError,
  type PolicyProblem,
} from '../../src/broker/policy/load-policy.js';
import { denialReason, Grants, matchingRules } from '../../src/broker/policy/evaluate.js';
import { compileGlob } from '../../src/protocol/glob.js';

const BASE = `version: 1
audience: https://secrets.example.com
issuers:
  github:
    url: https://token.actions.githubusercontent.com
`;

function problemsOf(text: string): PolicyProblem[] {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the policy to be refused');
}

function policyWith(rules: string): ReturnType<typeof parsePolicy> {
  return parsePolicy(`${BASE}rules:\n${rules}`, 'policy.yaml');
}

describe('policy loading', () => {
  it('loads the example policy', async () => {
    const policy = await loadPolicyFile('examples/policy.yaml');
    expect(policy.audience).toBe('https://secrets.example.com');
    expect([...policy.issuers.keys()]).toEqual(['github', 'gitlab']);
    expect(policy.issuers.get('github')).toMatchObject({ algorithms: ['RS256'], maxTokenAgeSeconds: 600 });
    expect(policy.rules.map((rule) => rule.name)).toEqual([
      'api-deploy-prod',
      'api-ci-staging',
      'web-deploy-gitlab',
    ]);
  });

  it('reads issuer options', () => {
    const policy = parsePolicy(
      `version: 1
audience: a
issuers:
  gl:
    url: https://gitlab.example.com
    algorithms: [RS256, ES256]
    max_token_age: 1h30m
rules: []
`,
      'p.yaml',
    );
    expect(policy.issuers.get('gl')).toMatchObject({
      algorithms: ['RS256', 'ES256'],
      maxTokenAgeSeconds: 5400,
    });
  });

  it('names file, line and column of an unknown key', () => {
    const problems = problemsOf(`${BASE}rules:
  - name: r
    issuer: github
    claims: { repository_id: "1" }
    secret: [x]
`);
    expect(problems).toContainEqual(
      expect.objectContaining({
        file: 'policy.yaml',
        line: 10,
        column: 5,
        message: 'unknown key "secret"; did you mean "secrets"? (it is required here and missing)',
      }),
    );
    expect(problems).toHaveLength(1);
  });

  it('reports every problem at once, in line order', () => {
    const problems = problemsOf(`version: 2
audience: https://secrets.example.com
issuers:
  github:
    url: http://token.actions.githubusercontent.com
    algorithms: [HS256]
rules: []
`);
    expect(problems.map((problem) => [problem.line, problem.path])).toEqual([
      [1, 'version'],
      [5, 'issuers.github.url'],
      [6, 'issuers.github.algorithms[0]'],
    ]);
    expect(problems[1]!.message).toContain('https://');
  });

  it('allows plain http only for loopback issuers', () => {
    for (const host of ['127.0.0.1:9000', 'localhost', '[::1]:8443']) {
      expect(() =>
        parsePolicy(`version: 1\naudience: a\nissuers:\n  t:\n    url: http://${host}\nrules: []\n`, 'p'),
      ).not.toThrow();
    }
    expect(
      problemsOf(`version: 1\naudience: a\nissuers:\n  t:\n    url: http://10.0.0.1\nrules: []\n`)[0]!
        .message,
    ).toContain('https://');
  });

  it('checks rules: issuer reference, duplicate names, empty claims, matchers and secret names', () => {
    const problems = problemsOf(`${BASE}rules:
  - name: a
    issuer: gitlab
    claims: { project_id: "1" }
    secrets: [x]
  - name: a
    issuer: github
    claims: {}
    secrets: [x]
  - name: b
    issuer: github
    claims:
      workflow_ref: { regex: '(' }
      actor: { nope: x }
      ref: [main, { not: [] }]
    secrets: [../x, "prod/{a"]
`);
    const byLine = problems.map((problem) => `${problem.line}:${problem.column} ${problem.message}`);
    expect(byLine).toEqual([
      expect.stringMatching(/^8:13 no issuer is named "gitlab"; the issuers section names "github"/),
      expect.stringMatching(/^11:11 another rule is already named "a"/),
      expect.stringMatching(/^13:13 a rule must bind at least one claim/),
      expect.stringMatching(/^18:30 not a valid regular expression/),
      expect.stringMatching(/^19:14 a map here must have exactly one key, "regex" or "not"; found "nope"/),
      expect.stringMatching(/^20:26 an empty list matches nothing/),
      expect.stringMatching(
        /^21:15 not a secret name or pattern: the pattern has a "\.\." segment|^21:15 not a secret name or pattern: the name has a "\.\." segment/,
      ),
      expect.stringMatching(/^21:21 not a secret name or pattern: .*closing/),
    ]);
  });

  it('refuses regexes that need backtracking or compile too large, naming the line and what to do', () => {
    const problems = problemsOf(`${BASE}rules:
  - name: a
    issuer: github
    claims:
      repository_id: "1"
      ref: { regex: 'refs/heads/(a+)\\1' }
      workflow_ref: { regex: '.*(?=@refs/heads/main)' }
      actor: { not: { regex: '(?<!x)y' } }
      environment: { regex: '(p{1000}){1000}' }
    secrets: [x]
`);
    expect(problems.map((problem) => `${problem.line} ${problem.message}`)).toEqual([
      expect.stringMatching(/^11 regular expression not allowed: the backreference "\\1" .* linear time/),
      expect.stringMatching(/^12 regular expression not allowed: lookahead "\(\?=" .* linear time/),
      expect.stringMatching(/^13 regular expression not allowed: lookbehind "\(\?<!"/),
      expect.stringMatching(/^14 regular expression too large/),
    ]);
  });

  it('refuses claim strings that would not mean what they look like: brackets, stray backslashes', () => {
    const problems = problemsOf(`${BASE}rules:
  - name: a
    issuer: github
    claims:
      repository_id: "1"
      ref: refs/heads/release-[0-9]*
      actor: { not: 'dependabot\\[bot\\]' }
      environment: { not: "prod-[!x]" }
      workflow: "deploy[mM]ain"
      event_name: [push, { not: 'rel-[12]' }]
      sub: 'repo:acme/\\a*'
      job_workflow_ref: 'acme\\b'
    secrets: [x]
`);
    expect(problems.map((problem) => `${problem.line} ${problem.message}`)).toEqual([
      expect.stringMatching(
        /^11 brackets in a claim matcher are allowed only in a GitHub App's bot name, NAME\[bot\]/,
      ),
      expect.stringMatching(/^12 brackets in a claim matcher/),
      expect.stringMatching(/^13 brackets in a claim matcher/),
      expect.stringMatching(/^14 brackets in a claim matcher/),
      expect.stringMatching(/^15 brackets in a claim matcher/),
      expect.stringMatching(/^16 the backslash before "a" escapes nothing/),
      expect.stringMatching(/^17 a backslash escapes only inside a glob/),
    ]);
    // A bot's name is the one place for brackets, also after a wildcard; a backslash may escape glob syntax.
    expect(() =>
      parsePolicy(
        `${BASE}rules:
  - name: a
    issuer: github
    claims:
      repository_id: "1"
      actor: { not: ["dependabot[bot]", "*[bot]"] }
      ref: 'refs/heads/\\{weird\\}*'
    secrets: [x]
`,
        'p',
      ),
    ).not.toThrow();
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    expect(problemsOf(`${BASE}rules: [\n`)[0]!.line).toBeGreaterThanOrEqual(6);
    const duplicate = problemsOf(`${BASE}audience: again\nrules: []\n`);
    expect(duplicate[0]).toMatchObject({ line: 6 });
    expect(duplicate[0]!.message).toMatch(/unique/i);
  });

  it('reports a missing file clearly', async () => {
    await expect(loadPolicyFile('/nonexistent/policy.yaml')).rejects.toThrow(
      '/nonexistent/policy.yaml:1:1: cannot read the policy file: no such file',
    );
  });
});

describe('rule evaluation', () => {
  const policy = policyWith(`  - name: prod
    issuer: github
    claims:
      repository_id: 98765
      ref: refs/heads/main
      event_name: [push, workflow_dispatch]
      workflow_ref: { regex: 'acme/api/.*@refs/heads/main' }
      actor: { not: "dependabot[bot]" }
    secrets: [prod/api/*]
  - name: groups
    issuer: github
    claims:
      groups: { not: [banned, "evil-*"] }
    secrets: [shared/X]
`);
  const claims = {
    repository_id: '98765',
    ref: 'refs/heads/main',
    event_name: 'push',
    workflow_ref: 'acme/api/.github/workflows/d.yml@refs/heads/main',
    actor: 'octocat',
  };
  const grants = (extra: Record<string, unknown> = {}, issuer = 'github'): Grants =>
    new Grants(matchingRules(policy, issuer, { ...claims, ...extra }));

  it('grants when every claim matches; numbers written unquoted compare as strings', () => {
    expect(grants().isGranted('prod/api/DB')).toBe(true);
    expect(grants().rulesGranting(compileGlob('prod/api/DB'))).toEqual(['prod']);
    expect(grants().rulesGranting(compileGlob('prod/*/DB'))).toEqual(['prod']);
    expect(grants().isGranted('prod/api/x/DB')).toBe(false);
  });

  it('denies by default: other issuers, failed claims and ungranted names', () => {
    expect(grants({}, 'gitlab').isGranted('prod/api/DB')).toBe(false);
    expect(grants({ ref: 'refs/heads/dev' }).isGranted('prod/api/DB')).toBe(false);
    expect(grants({ event_name: 'pull_request_target' }).isGranted('prod/api/DB')).toBe(false);
    expect(grants().isGranted('other/DB')).toBe(false);
  });

  it('anchors regexes fully', () => {
    expect(grants({ workflow_ref: 'evil/acme/api/x@refs/heads/main' }).isGranted('prod/api/DB')).toBe(false);
    expect(grants({ workflow_ref: 'acme/api/x@refs/heads/main-evil' }).isGranted('prod/api/DB')).toBe(false);
  });

  it('brackets are ordinary characters in claim matchers: {not: "dependabot[bot]"} refuses exactly that actor', () => {
    expect(grants({ actor: 'dependabot[bot]' }).isGranted('prod/api/DB')).toBe(false);
    expect(grants({ actor: 'dependabotb' }).isGranted('prod/api/DB')).toBe(true);
  });

  it('a missing claim never matches, not even {not}', () => {
    expect(grants({ actor: undefined }).isGranted('prod/api/DB')).toBe(false);
    expect(grants().isGranted('shared/X')).toBe(false);
  });

  it('{not} over an array claim means no element matches', () => {
    expect(grants({ groups: ['dev', 'ops'] }).isGranted('shared/X')).toBe(true);
    expect(grants({ groups: ['dev', 'banned'] }).isGranted('shared/X')).toBe(false);
    expect(grants({ groups: ['dev', 'evil-corp'] }).isGranted('shared/X')).toBe(false);
  });

  it('object claims never match', () => {
    expect(grants({ ref: { nested: 'refs/heads/main' } }).isGranted('prod/api/DB')).toBe(false);
  });

  it('explains a denial with the closest rule and every failed claim', () => {
    const failing = { ...claims, ref: 'refs/heads/dev', actor: undefined };
    expect(denialReason(policy.rules, compileGlob('prod/api/DB'), 'github', failing)).toBe(
      'rule "prod" came closest to granting "prod/api/DB": claim "ref" is "refs/heads/dev" but the rule wants "refs/heads/main", and the token has no "actor" claim (the rule wants not "dependabot[bot]")',
    );
    expect(denialReason(policy.rules, compileGlob('nothing/grants/this'), 'github', failing)).toContain(
      'no rule grants "nothing/grants/this"',
    );
  });
});
