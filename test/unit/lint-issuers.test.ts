/** policy lint's issuer checks: pinned keys near or past their declared end, long unbound token ages, impossible binding. */
import { generateKeyPairSync } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintIssuers } from '../../src/broker/policy/lint-issuers.js';
import { lintPolicy } from '../../src/broker/policy/lint.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { main } from '../../src/cli/main.js';

const NOW = 1_800_000_000;
const DAY = 24 * 3600;
const at = (seconds: number): string => new Date(seconds * 1000).toISOString();

function publicJwk(kid: string, validity: { exp?: number; nbf?: number } = {}): Record<string, unknown> {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return { ...jwk, kid, ...validity };
}

function policy(issuerLines: string, url = 'https://ghes.example.com/_services/token'): string {
  return `version: 1
audience: https://secrets.example.com
issuers:
  ci:
    url: ${url}
    algorithms: [ES256]
${issuerLines}
rules:
  - name: deploy
    issuer: ci
    claims:
      repository_id: "1"
      repository_owner_id: "2"
      environment: production
    secrets: [prod/api/*]
`;
}

const inline = (...keys: unknown[]): string => `    jwks: '${JSON.stringify({ keys })}'`;

function findings(issuerLines: string, url?: string) {
  return lintIssuers(parsePolicy(policy(issuerLines, url), 'policy.yaml'), NOW);
}

describe('lint: pinned keys', () => {
  it('warns of a key whose declared validity ends within 30 days, with the date and the fix', () => {
    const ends = NOW + 12 * DAY;
    expect(findings(inline(publicJwk('old', { exp: ends }), publicJwk('new')))).toEqual([
      {
        check: 'pinned-key-expiring',
        severity: 'warning',
        rule: 'issuers.ci',
        issuer: 'ci',
        line: expect.any(Number),
        message: `key "old" pinned for issuer "ci" (inline jwks) ends its declared validity at ${at(ends)} (in 12 days): tokens signed with it are refused after that; pin the issuer's next key next to it before then (docs/operations.md, "Pinned issuer keys: rotating them")`,
      },
    ]);
  });

  it('the 30-day edge: warns at 30 days, not at 31', () => {
    expect(findings(inline(publicJwk('k', { exp: NOW + 30 * DAY }))).map((each) => each.check)).toEqual([
      'pinned-key-expiring',
    ]);
    expect(findings(inline(publicJwk('k', { exp: NOW + 30 * DAY + 1 })))).toEqual([]);
    expect(findings(inline(publicJwk('k', { exp: NOW + 1 })))[0]?.message).toContain('(in 1 day)');
  });

  it('warns of a key past its declared validity', () => {
    const ended = NOW - DAY;
    const found = findings(inline(publicJwk('gone', { exp: ended }), publicJwk('current')));
    expect(found.map((each) => [each.check, each.severity, each.rule])).toEqual([
      ['pinned-key-expired', 'warning', 'issuers.ci'],
    ]);
    expect(found[0]?.message).toBe(
      `key "gone" pinned for issuer "ci" (inline jwks) ended its declared validity at ${at(ended)}: tokens signed with it are refused; remove it and pin the issuer's current key`,
    );
    // Exactly at the end the key is no longer used (the verifier's rule), so lint calls it expired.
    // The only key: the issuer has none left, said once more for the whole issuer.
    expect(findings(inline(publicJwk('k', { exp: NOW }))).map((each) => each.check)).toEqual([
      'pinned-key-expired',
      'pinned-keys-none-valid',
    ]);
  });

  it('warns of a key whose declared validity has not started, and of an issuer with no key valid now', () => {
    const later = NOW + DAY;
    expect(
      findings(inline(publicJwk('next', { nbf: later }), publicJwk('current'))).map((each) => each.check),
    ).toEqual(['pinned-key-not-yet-valid']);
    const only = findings(inline(publicJwk('next', { nbf: later })));
    expect(only.map((each) => each.check)).toEqual(['pinned-key-not-yet-valid', 'pinned-keys-none-valid']);
    expect(only[1]?.message).toContain('every token of this issuer is refused');
  });

  it('names a key without kid by its position, and a jwks_file by its path', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'lint-issuers-'));
    try {
      await writeFile(
        join(directory, 'keys.json'),
        JSON.stringify({ keys: [publicJwk('a', { exp: NOW + DAY })] }),
      );
      const compiled = parsePolicy(policy('    jwks_file: keys.json'), join(directory, 'policy.yaml'));
      expect(lintIssuers(compiled, NOW)[0]?.message).toContain(
        `key "a" pinned for issuer "ci" (jwks_file ${join(directory, 'keys.json')})`,
      );
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
    const withoutKid = publicJwk('x', { exp: NOW + DAY });
    delete withoutKid.kid;
    expect(findings(inline(withoutKid))[0]?.message).toMatch(/^key 1 pinned for issuer "ci"/);
  });

  it('says nothing of keys without a declared end, or far from it, nor of discovered keys', () => {
    expect(findings(inline(publicJwk('a'), publicJwk('b', { exp: NOW + 365 * DAY })))).toEqual([]);
    expect(findings('')).toEqual([]);
  });
});

describe('lint: token age and key binding', () => {
  it('warns of a max_token_age above 10 minutes unless key_binding is required', () => {
    for (const binding of ['', '    key_binding: optional', '    key_binding: off']) {
      const found = findings(`    max_token_age: 1h\n${binding}`);
      expect(found.map((each) => [each.check, each.severity, each.rule])).toEqual([
        ['long-token-age', 'warning', 'issuers.ci'],
      ]);
      expect(found[0]?.message).toMatch(
        /^issuer "ci" accepts tokens up to 60 minutes old without requiring them to be bound to the job's key \(key_binding: (optional|off)\): a token that leaks before it is used works for that long; lower max_token_age to 10m or less, or set key_binding: required/,
      );
    }
    expect(findings('    max_token_age: 1h\n    key_binding: required')).toEqual([]);
    expect(findings('    max_token_age: 10m')).toEqual([]);
    expect(findings('    max_token_age: 601s').map((each) => each.check)).toEqual(['long-token-age']);
  });

  it('for GitLab, advises only a shorter max_token_age (its tokens cannot be bound)', () => {
    const found = findings('    max_token_age: 30m', 'https://gitlab.com');
    expect(found.map((each) => each.check)).toEqual(['long-token-age']);
    expect(found[0]?.message).toContain('lower max_token_age to 10m or less (GitLab fixes the audience');
    expect(found[0]?.message).not.toContain('set key_binding: required');
  });

  it('warns that key_binding: required on a GitLab issuer refuses every token', () => {
    for (const url of ['https://gitlab.com', 'https://gitlab.example.com']) {
      const found = findings('    key_binding: required', url);
      expect(found.map((each) => [each.check, each.severity, each.rule])).toEqual([
        ['binding-impossible', 'warning', 'issuers.ci'],
      ]);
      expect(found[0]?.message).toMatch(
        /GitLab, which fixes the audience of id_tokens .* key_binding: required refuses every token; set key_binding: optional/,
      );
    }
    expect(findings('    key_binding: required', 'https://token.actions.githubusercontent.com')).toEqual([]);
    expect(findings('    key_binding: required', 'https://ci.example.com')).toEqual([]);
  });
});

describe('lint: issuer findings in policy lint', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'lint-issuers-cli-'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('lintPolicy reports them with the rule findings; the CLI prints them and exits 3 for warnings only', async () => {
    const file = join(directory, 'policy.yaml');
    await writeFile(file, policy('    max_token_age: 2h'));
    const compiled = parsePolicy(policy('    max_token_age: 2h'), file);
    expect(lintPolicy(compiled).map((each) => each.check)).toEqual(['long-token-age']);
    const out: Buffer[] = [];
    const code = await main(['policy', 'lint', file], {
      stdin: Readable.from([]),
      stdout: new PassThrough().on('data', (chunk: Buffer) => out.push(chunk)),
      stderr: new PassThrough(),
      environment: {},
    });
    expect(code).toBe(3);
    expect(Buffer.concat(out).toString()).toMatch(
      /policy\.yaml:\d+: warning \[long-token-age\] issuer "ci": issuer "ci" accepts tokens up to 120 minutes old/,
    );
  });

  it('a rule named like an issuer path ("issuers.ci") is still printed as a rule', async () => {
    const file = join(directory, 'named.yaml');
    const text = policy('')
      .replace('  - name: deploy', '  - name: issuers.ci')
      .replace('      environment: production\n', '');
    await writeFile(file, text);
    const out: Buffer[] = [];
    await main(['policy', 'lint', file], {
      stdin: Readable.from([]),
      stdout: new PassThrough().on('data', (chunk: Buffer) => out.push(chunk)),
      stderr: new PassThrough(),
      environment: {},
    });
    expect(Buffer.concat(out).toString()).toMatch(/warning \[production-unprotected\] rule "issuers\.ci":/);
  });
});
