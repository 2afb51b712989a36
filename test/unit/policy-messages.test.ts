/** One clear line per policy problem with "did you mean" (item 10), and claims GitHub and GitLab never send (item 9). */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closestWord, editDistance } from '../../src/broker/policy/did-you-mean.js';
import { claimCatalogFor } from '../../src/broker/policy/known-claims.js';
import { lintPolicy } from '../../src/broker/policy/lint.js';
import { parsePolicy, PolicyError } from '../../src/broker/policy/load-policy.js';
import { runCli } from '../helpers/cli.js';

const HEAD = `version: 1
audience: https://secrets.example.com
issuers:
  github:
    url: https://token.actions.githubusercontent.com
  gitlab:
    url: https://gitlab.com
`;

function problemLines(text: string): string[] {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return error.message.split('\n');
    throw error;
  }
  throw new Error('expected the policy to be refused');
}

async function policyFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'policy-messages-')), 'policy.yaml');
  await writeFile(file, text);
  return file;
}

describe('policy problems, one clear line each', () => {
  it('a misspelled "secrets" is one line that names the key meant, with no zod text', () => {
    const lines = problemLines(`${HEAD}rules:
  - name: r
    issuer: github
    claims: { repository_id: "1" }
    secret: [prod/x]
`);
    expect(lines).toEqual([
      'policy.yaml:12:5: rules[0].secret: unknown key "secret"; did you mean "secrets"? (it is required here and missing)',
    ]);
  });

  it("covers every kind of problem the schema finds, without zod's own texts", () => {
    const lines = problemLines(`version: 2
audiance: https://secrets.example.com
issuers:
  "bad name":
    url: https://x.example
  github:
    url: https://token.actions.githubusercontent.com
    algorithms: [rs256]
    replay_key: jtii
    max_token_ag: 10m
rules:
  - name: r
    issuer: ""
    claims: x
    secrets:
  - name: s
    issuer: github
    claims: { repository_id: "1" }
    secrets: [a]
    colour: blue
limits:
  per_source_ip: { rate: abc }
`);
    expect(lines).toEqual([
      'policy.yaml:1:10: version: the only policy version is 1; got "2"',
      'policy.yaml:2:1: audiance: unknown key "audiance"; did you mean "audience"? (it is required here and missing)',
      'policy.yaml:4:3: issuers.bad name: the name "bad name" is not allowed: issuer names use A-Z, a-z, 0-9, "_", "." and "-"',
      'policy.yaml:8:18: issuers.github.algorithms[0]: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; got "rs256"; did you mean "RS256"?',
      'policy.yaml:9:17: issuers.github.replay_key: must be jti or token; got "jtii"; did you mean "jti"?',
      'policy.yaml:10:5: issuers.github.max_token_ag: unknown key "max_token_ag"; did you mean "max_token_age"?',
      'policy.yaml:13:13: rules[0].issuer: must not be empty',
      'policy.yaml:14:13: rules[0].claims: must be a map (key: value lines), not the value "x"',
      'policy.yaml:15:13: rules[0].secrets: must be a list (- item lines, or [a, b]), not an empty value',
      'policy.yaml:20:5: rules[1].colour: unknown key "colour"; the keys allowed here are name, description, issuer, claims, secrets, when',
      'policy.yaml:22:18: limits.per_source_ip.burst: is missing: add burst: with a number of requests',
      'policy.yaml:22:26: limits.per_source_ip.rate: must be a positive number; got "abc"',
    ]);
    for (const line of lines)
      expect(line).not.toMatch(/Invalid input|Too (big|small)|expected \w+, received/);
  });

  it('names a too long value and a file that is not a map', () => {
    expect(
      problemLines(`${HEAD.replace('https://secrets.example.com', 'x'.repeat(600))}rules: []\n`),
    ).toEqual(['policy.yaml:2:11: audience: is too long: at most 512 characters']);
    expect(problemLines('- a\n- b\n')).toEqual([
      'policy.yaml:1:1: the policy file must be a map with version, audience, issuers and rules, not a list',
    ]);
  });

  it('the CLI prints the lines under one error, and --json prints them as data', async () => {
    const file = await policyFile(
      `${HEAD}rules:\n  - name: r\n    issuer: github\n    claims: { repository_id: "1" }\n    secret: [x]\n`,
    );
    const text = await runCli(['policy', 'check', file]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('did you mean "secrets"?');
    expect(text.stderr).not.toContain('Invalid input');
    const json = await runCli(['policy', 'check', file, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      file,
      valid: false,
      problems: [{ line: 12, column: 5, path: 'rules[0].secret' }],
    });
  });
});

describe('did you mean', () => {
  it('counts a swap of neighbours as one edit and suggests only close words', () => {
    expect(editDistance('repositry_id', 'repository_id')).toBe(1);
    expect(editDistance('reopsitory', 'repository')).toBe(1);
    expect(closestWord('repositry_id', ['repository_owner_id', 'repository_id'])).toBe('repository_id');
    expect(closestWord('Secrets', ['secrets'])).toBe('secrets');
    expect(closestWord('colour', ['name', 'issuer', 'claims', 'secrets'])).toBeUndefined();
    expect(closestWord('2', ['1'])).toBeUndefined();
  });
});

describe('claims GitHub and GitLab never send', () => {
  it('knows the issuers by URL, and no others', () => {
    expect(claimCatalogFor('https://token.actions.githubusercontent.com')?.provider).toBe('GitHub');
    expect(claimCatalogFor('https://token.actions.githubusercontent.com/acme')?.provider).toBe('GitHub');
    expect(claimCatalogFor('https://token.actions.octocorp.ghe.com')?.provider).toBe('GitHub');
    expect(claimCatalogFor('https://ghes.example.com/_services/token')?.provider).toBe('GitHub');
    expect(claimCatalogFor('https://gitlab.com')?.provider).toBe('GitLab');
    expect(claimCatalogFor('https://gitlab.example.com')?.provider).toBe('GitLab');
    expect(claimCatalogFor('https://oidc.circleci.com/org/1')).toBeUndefined();
    expect(claimCatalogFor('http://127.0.0.1:8080')).toBeUndefined();
  });

  const typo = `${HEAD}rules:
  - name: api
    issuer: github
    claims:
      repositry_id: "98765"
      repository_owner_id: "1234"
      repo_property_team: platform
      check_run_id: { not: "1" }
    secrets: [staging/api/*]
  - name: web
    issuer: gitlab
    claims:
      project_id: "4242"
      groups_direct: acme/platform
      job_namespace_id: "77"
      ci_config_ref_uri: gitlab.com/acme/web//.gitlab-ci.yml@refs/heads/main
      deployment_tier: production
      enviroment_protected: "true"
    secrets: [staging/web/*]
`;

  it('lint: an error with "did you mean" for each unknown claim; documented claims and repo_property_* pass', () => {
    const findings = lintPolicy(parsePolicy(typo, 'policy.yaml')).filter(
      (finding) => finding.check === 'unknown-claim',
    );
    expect(findings).toEqual([
      {
        check: 'unknown-claim',
        severity: 'error',
        rule: 'api',
        line: 12,
        message:
          'GitHub ID tokens have no claim "repositry_id", so this rule can never match; did you mean "repository_id"?',
      },
      {
        check: 'unknown-claim',
        severity: 'error',
        rule: 'web',
        line: 25,
        message:
          'GitLab ID tokens have no claim "enviroment_protected", so this rule can never match; did you mean "environment_protected"?',
      },
    ]);
  });

  it('check: a warning line (still valid, exit 0), and the same in --json', async () => {
    const file = await policyFile(typo);
    const text = await runCli(['policy', 'check', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      `${file}:12: warning [unknown-claim] rule "api": GitHub ID tokens have no claim "repositry_id", so this rule can never match; did you mean "repository_id"?`,
    );
    expect(text.stdout).toContain('2 rule(s); 2 warning(s)');
    const json = await runCli(['policy', 'check', file, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      file,
      valid: true,
      audience: 'https://secrets.example.com',
      issuers: [
        { name: 'github', url: 'https://token.actions.githubusercontent.com' },
        { name: 'gitlab', url: 'https://gitlab.com' },
      ],
      rules: 2,
      warnings: [{ check: 'unknown-claim', severity: 'warning', rule: 'api', line: 12 }, { rule: 'web' }],
    });
  });

  it('lint does not judge the claims of an issuer it does not know (CircleCI project-id)', async () => {
    const circleci = `version: 1
audience: https://secrets.example.com
issuers:
  circleci:
    url: https://oidc.circleci.com/org/8f4b2a10
rules:
  - name: deploy
    issuer: circleci
    claims:
      oidc.circleci.com/project-id: 0d1e2f3a
    secrets: [ci/deploy/*]
`;
    expect(lintPolicy(parsePolicy(circleci, 'policy.yaml'))).toEqual([]);
    // A self-hosted issuer at another URL binding only GitHub/GitLab claims is still judged.
    const selfHosted = circleci.replace('oidc.circleci.com/project-id: 0d1e2f3a', 'ref: refs/heads/main');
    expect(lintPolicy(parsePolicy(selfHosted, 'policy.yaml')).map((finding) => finding.check)).toEqual([
      'binds-nothing',
    ]);
  });
});

describe('--json on policy lint and pin', () => {
  it('lint --json (and the deprecated --format json) print the findings', async () => {
    const file = 'test/fixtures/lint/bad-github-name-only.yaml';
    for (const flags of [['--json'], ['--format', 'json']]) {
      const run = await runCli(['policy', 'lint', file, ...flags]);
      expect(run.code).toBe(3);
      expect(JSON.parse(run.stdout)).toMatchObject({
        file,
        errors: 0,
        warnings: 1,
        findings: [{ check: 'name-without-id', rule: 'api-deploy', line: 12, severity: 'warning' }],
      });
    }
    expect((await runCli(['policy', 'lint', '--help'])).stdout).not.toContain('--format');
  });

  it('pin --json prints the result with snake_case keys', async () => {
    const file = await policyFile(await readFile('test/fixtures/lint/good-mixed-issuers.yaml', 'utf8'));
    const run = await runCli(['policy', 'pin', file, '--check', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      file,
      check: true,
      missing_ids: 0,
      written: false,
      problems: 0,
      events: [],
    });
  });
});
