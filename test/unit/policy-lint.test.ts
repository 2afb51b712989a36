import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lintPolicy } from '../../src/broker/policy/lint.js';
import { loadPolicyFile } from '../../src/broker/policy/load-policy.js';
import { main } from '../../src/cli/main.js';

const FIXTURES = 'test/fixtures/lint';

/** Each "# finding: check[, check]" comment marks a line where lint must report exactly those checks. */
async function expectedFindings(file: string): Promise<string[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  let rule = '';
  const expected: string[] = [];
  lines.forEach((line, index) => {
    rule = /^\s*- name: ([\w.-]+)/.exec(line)?.[1] ?? rule;
    const checks = /# finding: (.+)$/.exec(line)?.[1];
    for (const check of checks?.split(',') ?? []) expected.push(`${check.trim()} ${rule} ${index + 1}`);
  });
  return expected.sort();
}

async function lintCli(file: string, format = 'text'): Promise<{ code: number; stdout: string }> {
  const out: Buffer[] = [];
  const code = await main(['policy', 'lint', file, '--format', format], {
    stdin: Readable.from([]),
    stdout: new PassThrough().on('data', (chunk: Buffer) => out.push(chunk)),
    stderr: new PassThrough(),
    environment: {},
  });
  return { code, stdout: Buffer.concat(out).toString() };
}

describe('policy lint', async () => {
  const files = (await readdir(FIXTURES)).filter((name) => name.endsWith('.yaml')).sort();
  const bad = files.filter((name) => name.startsWith('bad-'));
  const good = files.filter((name) => name.startsWith('good-'));

  it('has a corpus of at least 12 bad policies, GitHub and GitLab, and 4 good ones', () => {
    expect(bad.length).toBeGreaterThanOrEqual(12);
    expect(good.length).toBeGreaterThanOrEqual(4);
    expect(bad.some((name) => name.includes('github'))).toBe(true);
    expect(bad.some((name) => name.includes('gitlab'))).toBe(true);
  });

  it.each(bad)('%s: flagged with the right check, rule and line, and nothing else', async (name) => {
    const file = join(FIXTURES, name);
    const expected = await expectedFindings(file);
    expect(expected.length).toBeGreaterThan(0);
    const findings = lintPolicy(await loadPolicyFile(file));
    expect(findings.map((finding) => `${finding.check} ${finding.rule} ${finding.line}`).sort()).toEqual(
      expected,
    );
  });

  it.each([...good, '../../../examples/policy.yaml'])('%s: not flagged', async (name) => {
    const findings = lintPolicy(await loadPolicyFile(join(FIXTURES, name)));
    expect(findings).toEqual([]);
    expect((await lintCli(join(FIXTURES, name))).code).toBe(0);
  });

  it('every check of the issue is in the corpus', async () => {
    const checks = new Set(
      (await Promise.all(bad.map((name) => expectedFindings(join(FIXTURES, name)))))
        .flat()
        .map((entry) => entry.split(' ')[0]),
    );
    expect([...checks].sort()).toEqual([
      'binds-nothing',
      'loose-regex',
      'mixed-strength',
      'name-without-id',
      'owner-wide',
      'production-unprotected',
      'unknown-claim',
      'untrusted-event',
    ]);
  });

  it('exits 1 on errors, 3 on warnings only, and prints JSON', async () => {
    const errors = await lintCli(join(FIXTURES, 'bad-github-binds-nothing.yaml'));
    expect(errors.code).toBe(1);
    expect(errors.stdout).toContain(
      'bad-github-binds-nothing.yaml:10: error [binds-nothing] rule "deploy-main"',
    );
    const warnings = await lintCli(join(FIXTURES, 'bad-github-name-only.yaml'), 'json');
    expect(warnings.code).toBe(3);
    expect(JSON.parse(warnings.stdout)).toMatchObject({
      errors: 0,
      warnings: 1,
      findings: [{ check: 'name-without-id', rule: 'api-deploy', line: 12, severity: 'warning' }],
    });
  });
});
