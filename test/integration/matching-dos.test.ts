/**
 * Issue 11, defects 1, 2 and 4 against the live broker: hostile requested patterns, a policy regex that
 * backtracks catastrophically in a JavaScript RegExp, and a branch literally named like a brace pattern.
 * On the code before the fix the first two never answer (the broker's event loop is stuck, and this in-process
 * test with it); here each answers, and the unit tests in test/unit/linear-matching.test.ts count the steps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

const RELEASE_RULE = `  - name: release-branches
    issuer: github
    claims:
      repository_id: "55555"
      ref: { regex: 'refs/heads/release-([0-9]+\\.?)+' }
    secrets: [release/TOKEN]
  - name: brace-branches
    issuer: github
    claims:
      repository_id: "66666"
      ref: "refs/heads/{main,release}"
    secrets: [brace/TOKEN]
`;

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy: (github, gitlab) => `${testPolicy(github, gitlab)}${RELEASE_RULE}`,
  });
  await harness.setSecret('prod/api/DB_PASSWORD', 'v');
  await harness.setSecret('release/TOKEN', 'r');
  await harness.setSecret('brace/TOKEN', 'b');
});

afterAll(async () => {
  await harness?.close();
});

let bulkStored = false;
/** Enough granted names that a costly pattern needs more matching work than an exchange may use. */
async function storeBulkSecrets(): Promise<void> {
  if (bulkStored) return;
  for (let index = 0; index < 400; index += 1)
    await harness.setSecret(`prod/api/BULK_SECRET_WITH_A_LONG_NAME_${index}`, `bulk-${index}`);
  bulkStored = true;
}

const token = (overrides: Record<string, unknown> = {}) =>
  harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, overrides));

describe('requested patterns cannot stall the broker', () => {
  it('"**" x 22 + "Z" from a workload granted nothing is denied without touching a stored name', async () => {
    const result = await harness.exchange(await token({ repository_id: '1', repository_owner_id: '1' }), [
      `${'**'.repeat(22)}Z`,
    ]);
    expect(result.status).toBe(403);
    expect(result.json.code).toBe('policy_denied');
    expect((await harness.request('GET', '/healthz')).status).toBe(200);
  });

  it('the same pattern from a granted workload is matched against what is stored, in linear time', async () => {
    const result = await harness.exchange(await token(), [`prod/api/${'**'.repeat(22)}Z`]);
    expect(result.status).toBe(404);
    expect(result.json.code).toBe('secret_not_found');
    const all = await harness.exchange(await token(), [`prod/api/${'**'.repeat(60)}D`]);
    expect(all.status).toBe(200);
  });

  it('a pattern that needs more matching work than an exchange may use is refused, and spends the token', async () => {
    await storeBulkSecrets();
    const alternatives = Array.from(
      { length: 60 },
      (_, index) => `*${String.fromCharCode(97 + (index % 26))}`,
    );
    const hostile = `prod/api/{${alternatives.join(',')}}Q`;
    const fresh = await token();
    const result = await harness.exchange(fresh, [hostile]);
    expect(result.status).toBe(400);
    expect(result.json.code).toBe('invalid_request');
    expect(String(result.json.detail)).toContain('steps one exchange may use');
    expect(String(result.json.hint)).toContain('simpler patterns');
    // The token is spent: it cannot buy that cost again.
    expect((await harness.exchange(fresh, ['prod/api/DB_PASSWORD'])).json.code).toBe('token_replayed');
  });
});

describe('policy regexes cannot stall the broker', () => {
  it('a token from an unrelated repository with a crafted ref is denied at once', async () => {
    const crafted = `refs/heads/release-${'1'.repeat(64)}!`;
    const result = await harness.exchange(await token({ ref: crafted }), ['release/TOKEN']);
    expect(result.status).toBe(403);
    expect(result.json.code).toBe('policy_denied');
    // The same regex, against a ref it matches, from the repository it binds.
    const good = await harness.exchange(
      await token({ repository_id: '55555', ref: 'refs/heads/release-1.2' }),
      ['release/TOKEN'],
    );
    expect(good.status).toBe(200);
    const crafted2 = await harness.exchange(await token({ repository_id: '55555', ref: crafted }), [
      'release/TOKEN',
    ]);
    expect(crafted2.status).toBe(403);
    expect(String(crafted2.json.hint)).toContain('claim "ref" is');
  });
});

describe('a branch named like a brace pattern', () => {
  it('does not pass the rule that the pattern stands for', async () => {
    const literal = await harness.exchange(
      await token({ repository_id: '66666', ref: 'refs/heads/{main,release}' }),
      ['brace/TOKEN'],
    );
    expect(literal.status).toBe(403);
    expect(literal.json.code).toBe('policy_denied');
    for (const ref of ['refs/heads/main', 'refs/heads/release']) {
      const allowed = await harness.exchange(await token({ repository_id: '66666', ref }), ['brace/TOKEN']);
      expect(allowed.status, ref).toBe(200);
    }
  });

  it('and "dependabot[bot]" under {not} still refuses exactly that actor', async () => {
    const bot = await harness.exchange(await token({ actor: 'dependabot[bot]' }), ['prod/api/DB_PASSWORD']);
    expect(bot.status).toBe(403);
    expect(String(bot.json.hint)).toContain('not "dependabot[bot]"');
    const person = await harness.exchange(await token({ actor: 'octocat' }), ['prod/api/DB_PASSWORD']);
    expect(person.status).toBe(200);
  });
});

describe('no work for requests that cannot be granted', () => {
  const hostilePatterns = (count: number) =>
    Array.from({ length: count }, (_, index) => `prod/api/{${'*a,*b,*c,'.repeat(8)}*d}${index}`);

  it('a spent token is refused before any matching, however costly its request would be', async () => {
    await storeBulkSecrets();
    // Fresh, this request is refused for its matching cost (400), which spends the token ...
    const token = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
    expect((await harness.exchange(token, hostilePatterns(100))).status).toBe(400);
    // ... so the same request again is refused before any matching.
    const replay = await harness.exchange(token, hostilePatterns(100));
    expect(replay.status).toBe(401);
    expect(replay.json.code).toBe('token_replayed');
    // No rule was even evaluated for it (the workload matches rules, so any evaluation would name them).
    const [record] = await harness.broker.stores.audit.query(
      { requestId: String(replay.json.request_id) },
      0,
      1,
    );
    expect(JSON.parse(record!.record)).toMatchObject({ code: 'token_replayed', rules: [] });
  });

  it('a token that does not verify gets no entry compiled: the token is what is refused', async () => {
    const result = await harness.exchange('not-a-jwt', ['prod/[unterminated', ...hostilePatterns(99)]);
    expect(result.status).toBe(401);
    expect(result.json.code).toBe('invalid_token');
    // Its audit record keeps only the first few entries it sent, escaped, and how many there were.
    const [record] = await harness.broker.stores.audit.query(
      { requestId: String(result.json.request_id) },
      0,
      1,
    );
    const audited = JSON.parse(record!.record) as { requested: string[]; requested_count: number };
    expect(audited.requested).toHaveLength(5);
    expect(audited.requested_count).toBe(100);
  });

  it('a workload that no rule matches gets its denial, hints cut short within the same budget', async () => {
    const stranger = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { repository_id: '1', repository_owner_id: '1' }),
    );
    const result = await harness.exchange(stranger, hostilePatterns(100));
    expect(result.status).toBe(403);
    expect(result.json.code).toBe('policy_denied');
    expect((await harness.request('GET', '/healthz')).status).toBe(200);
  });
});
