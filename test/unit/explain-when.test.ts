/** policy explain shows each rule's `when` conditions and whether they hold for --source-ip and --at. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainDecision, explainToken, EXPLAIN_STEPS } from '../../src/broker/explain/explain.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { WorkBudget } from '../../src/protocol/automaton.js';
import { explainRequestSchema, explainResponseSchema } from '../../src/protocol/admin-api.js';
import { runCli } from '../helpers/cli.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const POLICY = `version: 1
audience: https://secrets.example.com
issuers:
  github:
    url: ${ISSUER}
rules:
  - name: deploy-office
    issuer: github
    claims: { repository_id: "1" }
    secrets: [prod/x]
    when:
      source_ips: [10.0.0.0/8, "2001:db8::/32"]
      time: { days: mon-fri, hours: "08:00-18:00", timezone: America/New_York }
  - name: ci
    issuer: github
    claims: { repository_id: "1" }
    secrets: [ci/*]
    when:
      time: { days: mon-fri, timezone: UTC }
  - name: other
    issuer: github
    claims: { repository_id: "2" }
    secrets: [prod/x]
`;
const CLAIMS = { iss: ISSUER, repository_id: '1' };
const WEDNESDAY_10_NEW_YORK = new Date('2026-03-04T15:00:00Z');
const SATURDAY = new Date('2026-03-07T15:00:00Z');

const policy = parsePolicy(POLICY, 'policy.yaml');
const explain = (sourceIp: string | undefined, at: Date) =>
  explainDecision(policy, CLAIMS, ['prod/x', 'ci/*'], new WorkBudget(EXPLAIN_STEPS), { sourceIp, at });

/** `policy explain POLICY --claims CLAIMS ...flags`, with both written to a fresh directory. */
async function explainCli(...flags: string[]) {
  const directory = await mkdtemp(join(tmpdir(), 'explain-when-'));
  const policyFile = join(directory, 'policy.yaml');
  const claimsFile = join(directory, 'claims.json');
  await writeFile(policyFile, POLICY);
  await writeFile(claimsFile, JSON.stringify(CLAIMS));
  return runCli(['policy', 'explain', policyFile, '--claims', claimsFile, ...flags]);
}

describe('policy explain with rule conditions', () => {
  it('every condition holds: the rules grant, and each condition is shown with what was seen', () => {
    const explanation = explain('10.1.2.3', WEDNESDAY_10_NEW_YORK);
    expect(explanation.source_ip).toBe('10.1.2.3');
    expect(explanation.at).toBe('2026-03-04T15:00:00.000Z');
    expect(explanation.rules[0]?.conditions).toEqual([
      { condition: 'source_ips', expected: '10.0.0.0/8, 2001:db8::/32', actual: '10.1.2.3', holds: true },
      {
        condition: 'time',
        expected: 'mon-fri 08:00-18:00 America/New_York',
        actual: 'Wed 2026-03-04 10:00 America/New_York',
        holds: true,
      },
    ]);
    expect(explanation.rules.map((rule) => rule.grants)).toEqual([true, true, false]);
    expect(explanation.rules[2]?.conditions).toEqual([]);
    expect(explanation.matched_rules).toEqual(['deploy-office', 'ci']);
    expect(explanation.secrets.map((secret) => [secret.entry, secret.granted, secret.assumes])).toEqual([
      ['prod/x', true, null],
      ['ci/*', true, null],
    ]);
    expect(explainResponseSchema.safeParse(explanation).success).toBe(true);
  });

  it('a failing condition: claims match, the rule grants nothing, the denial names the condition and the value seen', () => {
    const explanation = explain('::ffff:11.0.0.1', SATURDAY);
    expect(explanation.rules.map((rule) => [rule.matched, rule.grants])).toEqual([
      [true, false],
      [true, false],
      [false, false],
    ]);
    expect(explanation.matched_rules).toEqual([]);
    expect(explanation.secrets.map((secret) => secret.reason)).toEqual([
      'rule "deploy-office": claims match but condition source_ips fails: the client address ::ffff:11.0.0.1 is not in 10.0.0.0/8, 2001:db8::/32, and condition time fails: it is Sat 2026-03-07 10:00 America/New_York, the rule allows mon-fri 08:00-18:00 America/New_York (the broker answers condition_failed)',
      'rule "ci": claims match but condition time fails: it is Sat 2026-03-07 15:00 UTC, the rule allows mon-fri all day UTC (the broker answers condition_failed)',
    ]);
  });

  it('without an address, source_ips is not checked: a grant depending on it says so', () => {
    const explanation = explain(undefined, WEDNESDAY_10_NEW_YORK);
    expect(explanation.source_ip).toBeNull();
    expect(explanation.rules[0]?.conditions[0]).toMatchObject({ actual: null, holds: null });
    expect(explanation.rules[0]?.grants).toBe(true);
    expect(explanation.secrets[0]).toMatchObject({
      granted: true,
      assumes:
        'rule "deploy-office" allows only client addresses in 10.0.0.0/8, 2001:db8::/32: not checked, give a client address (--source-ip) to check it',
    });
  });

  it('a token is explained with the same conditions', () => {
    const explanation = explainToken(policy, 'not-a-jwt', ['prod/x'], undefined, undefined, {
      sourceIp: '10.0.0.1',
      at: SATURDAY,
    });
    expect(explanation.source_ip).toBe('10.0.0.1');
    expect(explanation.secrets[0]).toMatchObject({ granted: false, assumes: null });
    expect(explainResponseSchema.safeParse(explanation).success).toBe(true);
  });

  it('the admin API request takes source_ip and at, and refuses bad ones', () => {
    const good = { claims: CLAIMS, source_ip: '2001:db8::1', at: '2026-03-04T10:00:00-05:00' };
    expect(explainRequestSchema.safeParse(good).success).toBe(true);
    const bad = (extra: object): string[] =>
      explainRequestSchema
        .safeParse({ claims: CLAIMS, ...extra })
        .error?.issues.map((issue) => issue.message) ?? [];
    expect(bad({ source_ip: '10.0.0.0/8' })).toEqual(['must be an IPv4 or IPv6 address such as 203.0.113.7']);
    expect(bad({ at: '2026-03-04' })).toEqual([
      'must be an ISO 8601 date-time with a zone, such as 2026-03-09T14:00:00Z',
    ]);
  });

  it('the CLI prints each condition, escaped, and the decision of each rule', async () => {
    const run = await explainCli(
      '--secret',
      'prod/x',
      '--source-ip',
      '2001:db8::7',
      '--at',
      '2026-03-07T15:00:00Z',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      'Conditions checked for client address 2001:db8::7 at 2026-03-07T15:00:00.000Z.\n',
    );
    expect(run.stdout).toContain(
      [
        '  [ ] deploy-office (line 7): claims match but condition when.time fails: grants nothing',
        '        ok   repository_id: token has "1", rule wants "1"',
        '        ok   when.source_ips: client address 2001:db8::7, rule allows 10.0.0.0/8, 2001:db8::/32',
        '        FAIL when.time: it is Sat 2026-03-07 10:00 America/New_York, rule allows mon-fri 08:00-18:00 America/New_York',
      ].join('\n'),
    );
    expect(run.stdout).toContain(
      '  prod/x: DENIED: rule "deploy-office": claims match but condition time fails',
    );
    const both = await explainCli('--source-ip', '11.0.0.1', '--at', '2026-03-07T15:00:00Z');
    expect(both.stdout).toContain(
      'claims match but conditions when.source_ips and when.time fail: grants nothing',
    );
    const unchecked = await explainCli('--secret', 'prod/x', '--at', '2026-03-04T15:00:00Z');
    expect(unchecked.stdout).toContain('--   when.source_ips: not checked (give --source-ip ADDRESS)');
    expect(unchecked.stdout).toContain(
      '  prod/x: granted by deploy-office if the client address is allowed: ',
    );
  });

  it('the CLI refuses a bad --source-ip or --at, escaped', async () => {
    const address = await explainCli('--source-ip', '10.0.0.1\u001b[2J');
    expect(address.code).toBe(1);
    expect(address.stderr).toContain('--source-ip "10.0.0.1\\u001b[2J" is not an IP address');
    expect(address.stderr).not.toContain('\u001b');
    const time = await explainCli('--at', 'tomorrow');
    expect(time.code).toBe(1);
    expect(time.stderr).toContain('--at "tomorrow" is not an ISO 8601 date-time with a zone');
  });
});

describe('explain with alternatives and versions', () => {
  const policy = parsePolicy(POLICY, 'policy.yaml');
  const at = { sourceIp: '10.1.2.3', at: WEDNESDAY_10_NEW_YORK };

  it("grants an entry when one of its alternatives is granted, naming that alternative's rules", () => {
    const explained = explainDecision(policy, CLAIMS, ['shared/x|ci/a', 'ci/b@3'], undefined, at);
    expect(explained.secrets).toMatchObject([
      { entry: 'shared/x|ci/a', granted: true, rules: ['ci'], reason: null },
      { entry: 'ci/b@3', granted: true, rules: ['ci'], reason: null },
    ]);
  });

  it('explains every alternative of an entry none of whose alternatives is granted', () => {
    const [explained] = explainDecision(policy, CLAIMS, ['shared/x|other/y'], undefined, at).secrets;
    expect(explained).toMatchObject({ granted: false, rules: [] });
    expect(explained?.reason).toContain('"shared/x"');
    expect(explained?.reason).toContain('"other/y"');
  });
});
