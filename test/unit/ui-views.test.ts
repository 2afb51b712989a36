import { describe, expect, it } from 'vitest';
import { ConfigError, parseUiVariable, resolveBrokerConfig } from '../../src/broker/config.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import type { AuditRecords } from '../../src/broker/store/interfaces.js';
import {
  accessMatrix,
  MATRIX_RULES_PAGE_SIZE,
  repositoryStanding,
} from '../../src/broker/ui/access-matrix.js';
import { seqBefore, WINDOW_START_SLACK_MS } from '../../src/broker/ui/audit-window.js';
import { dashboardLint, LINT_MAX_RULES, LINT_MAX_STEPS } from '../../src/broker/ui/dashboard-lint.js';
import { grantingRules } from '../../src/broker/ui/grants.js';
import { matrixView } from '../../src/broker/ui/views/matrix-view.js';
import { MAX_ROW_RULES, secretsView } from '../../src/broker/ui/views/secrets-view.js';
import { CHART_BUCKETS, exchangeChart } from '../../src/broker/ui/audit-chart.js';
import { closestRule } from '../../src/broker/ui/closest-rule.js';
import { ReloadStatus } from '../../src/broker/ui/reload-status.js';
import { denialsByCode, exchangesOverTime } from '../../src/broker/ui/views/chart-svg.js';
import { h, lines } from '../../src/broker/ui/views/html.js';
import type { AuditEntry, ExplainResponse } from '../../src/protocol/admin-api.js';
import { policyWithRules } from '../helpers/broker-harness.js';

describe('h (every dashboard fragment)', () => {
  it('escapes HTML in every interpolated string, arrays included, and keeps nested fragments', () => {
    const hostile = '<script>alert(1)</script>" onmouseover="x';
    const out = String(h`<p title="${hostile}">${hostile}${[hostile, h`<b>ok</b>`]}</p>`);
    expect(out).not.toContain('<script>');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x');
    expect(out).toContain('<b>ok</b>');
  });

  it('makes control, bidi and invisible characters visible escapes', () => {
    const out = String(h`<td>${'evil\u202eexe.txt\u200b\x1b[31m\nnext'}</td>`);
    expect(out).toBe('<td>evil\\u202eexe.txt\\u200b\\x1b[31m\\nnext</td>');
  });

  it('keeps the lines of multi-line text, escaped', () => {
    expect(String(lines('{\n  "a": "<x>"\n}'))).toBe('{\n  &quot;a&quot;: &quot;&lt;x&gt;&quot;\n}');
  });
});

describe('exchangeChart', () => {
  const from = Date.parse('2026-01-01T00:00:00Z');
  const to = from + 24 * 3_600_000;
  const entry = (hour: number, outcome: string, code: string | null = null): AuditEntry =>
    ({
      seq: hour,
      hash: 'h',
      kind: 'exchange',
      time: new Date(from + hour * 3_600_000 + 60_000).toISOString(),
      outcome,
      code,
    }) as AuditEntry;

  it('counts exchanges into buckets by outcome and denials by code, most first', () => {
    const chart = exchangeChart(
      [
        entry(0, 'allowed'),
        entry(0, 'denied', 'no_matching_rule'),
        entry(5, 'denied', 'token_expired'),
        entry(5, 'denied', 'no_matching_rule'),
        entry(23, 'error', 'unavailable'),
        entry(30, 'allowed'),
      ],
      from,
      to,
    );
    expect(chart.buckets).toHaveLength(CHART_BUCKETS);
    expect(chart.buckets[0]!.counts).toEqual({ allowed: 1, denied: 1, error: 0 });
    expect(chart.buckets[5]!.counts).toEqual({ allowed: 0, denied: 2, error: 0 });
    expect(chart.buckets[23]!.counts).toEqual({ allowed: 0, denied: 0, error: 1 });
    expect(chart.total).toBe(5);
    expect(chart.denials).toEqual([
      { code: 'no_matching_rule', count: 2 },
      { code: 'token_expired', count: 1 },
    ]);
  });

  it('draws SVG with no script and no style attribute, the codes escaped', () => {
    const chart = exchangeChart([entry(1, 'denied', '<script>x</script>')], from, to);
    const svg = `${String(exchangesOverTime(chart))}${String(denialsByCode(chart))}`;
    expect(svg).toContain('<svg');
    expect(svg).toContain('class="bar-denied"');
    expect(svg).not.toMatch(/<script|style=/);
    expect(svg).toContain('&lt;script&gt;x&lt;/script&gt;');
  });
});

const policy = parsePolicy(
  policyWithRules(`  - name: by-path
    issuer: github
    claims:
      repository: acme/api
    secrets: [prod/api/*]
  - name: by-id
    issuer: github
    claims:
      repository_id: "98765"
    secrets: [prod/**]
  - name: unbound
    issuer: github
    claims:
      repository_owner: acme
    secrets: [shared/*]
  - name: other-repo
    issuer: github
    claims:
      repository: acme/web
    secrets: [prod/web/*]
`)('https://github.example', 'https://gitlab.example'),
  'policy.yaml',
);

describe('accessMatrix', () => {
  const names = ['prod/api/DB', 'prod/web/KEY', 'shared/SLACK', 'staging/x'];

  it('expands each rule against the stored names and files its lint findings beside it', () => {
    const matrix = accessMatrix(policy, names, {});
    const grants = Object.fromEntries(matrix.rules.map((rule) => [rule.rule.name, rule.grants]));
    expect(grants).toEqual({
      'by-path': ['prod/api/DB'],
      'by-id': ['prod/api/DB', 'prod/web/KEY'],
      unbound: ['shared/SLACK'],
      'other-repo': ['prod/web/KEY'],
    });
    const unbound = matrix.rules.find((rule) => rule.rule.name === 'unbound')!;
    expect(unbound.repositoryUnbound).toBe(true);
    expect(unbound.findings?.length).toBeGreaterThan(0);
    expect(unbound.findings?.every((finding) => finding.rule === 'unbound')).toBe(true);
  });

  it('filters by repository: the rules that accept it, bind none, or bind only ids', () => {
    expect(
      accessMatrix(policy, names, { repository: 'acme/api' }).rules.map((rule) => [
        rule.rule.name,
        rule.standing,
      ]),
    ).toEqual([
      ['by-path', 'match'],
      ['by-id', 'by-id'],
      ['unbound', 'unbound'],
    ]);
    expect(repositoryStanding(policy.rules[1]!, '98765')).toBe('match');
    expect(repositoryStanding(policy.rules[3]!, 'acme/api')).toBeUndefined();
  });

  it('bounds the names it expands against', () => {
    const many = Array.from({ length: 250 }, (_, index) => `prod/api/N${index}`);
    const matrix = accessMatrix(policy, many, {});
    expect(matrix.names).toHaveLength(200);
    expect(matrix.namesLeftOut).toBe(50);
  });
});

describe('closestRule', () => {
  const rule = (
    name: string,
    matched: boolean[],
    issuerMatches = true,
  ): ExplainResponse['rules'][number] => ({
    name,
    line: 1,
    issuer: 'github',
    issuer_matches: issuerMatches,
    matched: matched.every(Boolean),
    claims: matched.map((ok, index) => ({ claim: `c${index}`, expected: 'x', actual: ['y'], matched: ok })),
    conditions: [],
    grants: matched.every(Boolean),
  });
  const explanation = {
    rules: [
      rule('a', [true, false, false]),
      rule('b', [true, true, false]),
      rule('c', [true, true, true], false),
      rule('d', [false, false]),
    ],
  } as unknown as ExplainResponse;

  it('is the rule of the issuer with the most matching claims, among those granting the secret when any does', () => {
    expect(closestRule(explanation, () => false)?.name).toBe('b');
    expect(closestRule(explanation, (name) => name === 'a' || name === 'd')).toMatchObject({
      name: 'a',
      matchedClaims: 1,
      claims: 3,
    });
    expect(closestRule(explanation, (name) => name === 'b')?.failing.map((check) => check.claim)).toEqual([
      'c2',
    ]);
    expect(closestRule({ rules: [] } as unknown as ExplainResponse, () => true)).toBeUndefined();
  });
});

describe('SECRETS_BROKER_UI and --ui', () => {
  it('is off unless true; anything but true or false is refused', () => {
    expect(parseUiVariable(undefined)).toBe(false);
    expect(parseUiVariable('')).toBe(false);
    expect(parseUiVariable('false')).toBe(false);
    expect(parseUiVariable('true')).toBe(true);
    for (const value of ['1', 'yes', 'TRUE', 'on']) expect(() => parseUiVariable(value)).toThrow(ConfigError);
    expect(() => parseUiVariable('yes')).toThrow(/SECRETS_BROKER_UI "yes" is not true or false/);
    expect(resolveBrokerConfig({}, {}).ui).toBe(false);
    expect(resolveBrokerConfig({ ui: true }, {}).ui).toBe(true);
    expect(resolveBrokerConfig({}, { SECRETS_BROKER_UI: 'true' }).ui).toBe(true);
  });
});

describe('ReloadStatus', () => {
  it('keeps the last reload that did something', () => {
    const status = new ReloadStatus(() => new Date('2026-01-01T00:00:00Z'));
    expect(status.lastReload).toBeUndefined();
    status.record({ ok: true, changed: false });
    expect(status.lastReload).toBeUndefined();
    status.record({ ok: false, problems: ['line 3: bad'] });
    expect(status.lastReload).toEqual({
      at: '2026-01-01T00:00:00.000Z',
      applied: false,
      problems: ['line 3: bad'],
    });
    status.record({ ok: true, changed: true });
    expect(status.lastReload?.applied).toBe(true);
  });
});

/** `count` rules of ordinary shape: ids bound, every third also environment and branch, three patterns each. */
function generatedPolicy(
  count: number,
  patterns = (index: number): string[] => [
    `team-${index % 25}/app-${index}/*`,
    `team-${index % 25}/shared/**`,
    `env-${index % 7}/*/TOKEN_${index % 11}`,
  ],
): ReturnType<typeof parsePolicy> {
  const rules = Array.from(
    { length: count },
    (_, index) => `  - name: rule-${index}
    issuer: github
    claims:
      repository_id: "${100000 + index}"
${index % 3 === 0 ? '      ref: refs/heads/main\n      environment: production\n' : ''}    secrets:
${patterns(index)
  .map((pattern) => `      - "${pattern}"\n`)
  .join('')}`,
  ).join('');
  return parsePolicy(
    policyWithRules(rules)('https://github.example', 'https://gitlab.example'),
    'policy.yaml',
  );
}

describe('dashboardLint', () => {
  it('lints a policy of ordinary rules up to the cap', () => {
    const outcome = dashboardLint(generatedPolicy(LINT_MAX_RULES - 100));
    expect(outcome.ran).toBe(true);
    if (outcome.ran) expect(outcome.findings.length).toBeGreaterThan(0);
  });

  it('does not lint a policy of more rules than the cap, and says how to', () => {
    const outcome = dashboardLint(generatedPolicy(LINT_MAX_RULES + 1));
    expect(outcome).toEqual({
      ran: false,
      reason: `lint not run here: ${LINT_MAX_RULES + 1} rules (the dashboard lints up to ${LINT_MAX_RULES}); run \`secrets-broker policy lint policy.yaml\``,
    });
  });

  it('does not lint a few rules whose patterns need too much matching work to compare', () => {
    // Wildcards first and nothing in common: every pair of patterns is compared in full.
    const outcome = dashboardLint(
      generatedPolicy(40, (index) => Array.from({ length: 5 }, (_, k) => `**/p${k}/*/X_${index}_${k}`)),
    );
    expect(outcome.ran).toBe(false);
    if (!outcome.ran) expect(outcome.reason).toContain(`needs more than ${LINT_MAX_STEPS} matching steps`);
  });

  it('is worked out once per policy object', () => {
    const policy = generatedPolicy(10);
    expect(dashboardLint(policy)).toBe(dashboardLint(policy));
  });
});

describe('access matrix and secrets view of a policy of 1,000 rules', () => {
  const policy = generatedPolicy(1000);
  const names = Array.from({ length: 250 }, (_, index) => `team-${index % 25}/shared/N${index}`);

  it('pages the rule cards, expands only the page, skips lint and stays small', () => {
    const matrix = accessMatrix(policy, names, {}, 3);
    expect(matrix.rules.map((rule) => rule.rule.name)).toEqual(
      Array.from({ length: MATRIX_RULES_PAGE_SIZE }, (_, index) => `rule-${100 + index}`),
    );
    expect(matrix.pageCount).toBe(1000 / MATRIX_RULES_PAGE_SIZE);
    expect(matrix.lint.ran).toBe(false);
    expect(matrix.rules.every((rule) => rule.findings === undefined)).toBe(true);
    const page = String(
      matrixView(
        matrix,
        { repository: undefined, prefix: undefined, rule: undefined, secret: undefined },
        'policy.yaml',
      ),
    );
    expect(page).toContain('lint not run here: 1000 rules');
    expect(page).toContain('href="/ui/matrix?page=2"');
    expect(page).toContain('href="/ui/matrix?page=4"');
    expect(page.length).toBeLessThan(400_000);
    expect(accessMatrix(policy, names, {}, 99_999).pageNumber).toBe(20);
  });

  it('keeps the rules that grant a stored name', () => {
    const matrix = accessMatrix(policy, names, { secret: 'team-3/app-3/KEY' });
    expect(matrix.rules.map((rule) => rule.rule.name)).toEqual(['rule-3']);
    const shared = accessMatrix(policy, names, { secret: 'team-3/shared/KEY' });
    expect(shared.rulesMatching).toBe(40);
    expect(shared.rules.map((rule) => rule.rule.name).slice(0, 2)).toEqual(['rule-3', 'rule-28']);
  });

  it('lists at most ten granting rules per secret, then links to the matrix filtered by its name', () => {
    const rules = grantingRules(policy, 'team-3/shared/KEY');
    expect(rules.length).toBe(40);
    const row = String(
      secretsView({
        rows: [
          {
            listing: {
              name: 'team-3/shared/KEY',
              version: 1,
              versions: 1,
              updated_at: '2026-01-01T00:00:00Z',
              expires_at: null,
              max_reads: null,
              rotate_after_reads: null,
              owner: null,
              description: null,
              releases: 0,
              reads_in_window: 0,
              expired: false,
              budget_exhausted: false,
              rotation_required: false,
            },
            bytes: 3,
            fingerprint: null,
            rules,
          },
        ],
        prefix: '',
        pageNumber: 1,
        pageCount: 1,
        total: 1,
      }),
    );
    expect(row.match(/class="rule"/g)).toHaveLength(MAX_ROW_RULES);
    expect(row).toContain(
      'href="/ui/matrix?secret=team-3%2Fshared%2FKEY&amp;prefix=team-3%2Fshared%2FKEY">and 30 more</a>',
    );
  });
});

describe('seqBefore (where the audit chart starts reading)', () => {
  const start = Date.parse('2026-01-01T00:00:00Z');
  /** A log of `count` records one second apart, with a gap in its sequence numbers, counting the reads. */
  function log(count: number): { read: AuditRecords['page']; reads: () => number } {
    let reads = 0;
    const entries = Array.from({ length: count }, (_, index) => ({
      seq: index < count / 2 ? index + 1 : index + 11,
      record: JSON.stringify({ kind: 'exchange', time: new Date(start + index * 1000).toISOString() }),
      prevHash: '',
      hash: '',
    }));
    return {
      read: (afterSeq, limit) => {
        reads += 1;
        return Promise.resolve(entries.filter((entry) => entry.seq > afterSeq).slice(0, limit));
      },
      reads: () => reads,
    };
  }

  it('finds the records a little before the window in about log2(head) reads', async () => {
    const { read, reads } = log(100_000);
    const headSeq = 100_010;
    const windowStart = start + 90_000 * 1000;
    const after = await seqBefore(read, headSeq, windowStart);
    // Seq 90,011 holds record 90,000; the search aims WINDOW_START_SLACK_MS (300 records) earlier.
    expect(after).toBe(90_011 - WINDOW_START_SLACK_MS / 1000 - 1);
    expect(reads()).toBeLessThanOrEqual(18);
  });

  it('reads from the start for a window before the log, and past the head for one after it', async () => {
    const { read } = log(1000);
    expect(await seqBefore(read, 1010, start - 86_400_000)).toBe(0);
    expect(await seqBefore(read, 1010, start + 10 * 86_400_000)).toBe(1010);
    expect(await seqBefore(read, 0, start)).toBe(0);
  });

  it('counts a record whose time cannot be read as inside the window (reads earlier, never later)', async () => {
    const entries = [1, 2, 3, 4].map((seq) => ({
      seq,
      record: seq === 3 ? 'not json' : JSON.stringify({ time: new Date(start + seq * 1000).toISOString() }),
      prevHash: '',
      hash: '',
    }));
    const read: AuditRecords['page'] = (afterSeq, limit) =>
      Promise.resolve(entries.filter((entry) => entry.seq > afterSeq).slice(0, limit));
    expect(await seqBefore(read, 4, start + 4000 + WINDOW_START_SLACK_MS)).toBeLessThanOrEqual(2);
  });
});

describe('health view', () => {
  it('shows pinned keys as pinned (with their declared end), discovered ones by their last refresh, and each binding mode', async () => {
    const { healthView } = await import('../../src/broker/ui/views/health-view.js');
    const page = String(
      healthView({
        version: '1.0.0',
        issuers: [
          {
            name: 'ghes',
            url: 'https://ghes.example.com/_services/token',
            loaded: true,
            keyCount: 2,
            fetchedAt: undefined,
            lastError: undefined,
            source: 'pinned',
            validUntil: '2027-01-01T00:00:00.000Z',
            keyBinding: 'required',
          },
          {
            name: 'gitlab',
            url: 'https://gitlab.example.com',
            loaded: true,
            keyCount: 1,
            fetchedAt: '2026-11-25T07:00:00.000Z',
            lastError: undefined,
            source: 'discovery',
            validUntil: undefined,
            keyBinding: 'optional',
          },
        ],
        storeProblem: undefined,
        policy: { source: 'policy.yaml', rules: 3, audience: 'https://secrets.example.com' },
        lastReload: undefined,
        rateLimits: [],
      }),
    );
    expect(page).toContain('Key binding');
    expect(page).toMatch(/pinned in the policy, valid until[^<]*2027-01-01/);
    expect(page).toContain('<td>required</td>');
    expect(page).toContain('<td>optional</td>');
    expect(page).toMatch(/2026-11-25[ T]07:00/);
  });
});
