/**
 * Versions and alternatives in exchange requests against the real broker (issue 16).
 * Versions: `NAME@N` releases a kept version of a granted name; a version never stored, deleted or purged is
 * secret_not_found; a version of a name not granted is policy_denied, the same whether it is stored or not.
 * Alternatives (`a|b`, first granted and stored wins): the winner's name is released and audited; an alternative
 * not granted is skipped without being looked up, so a stored but ungranted name is never revealed; none granted
 * is policy_denied, granted but none stored secret_not_found; a condition on the winner refuses, it never falls
 * through to the next alternative.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerHarness,
  ManualClock,
  newRecipient,
  openSealed,
  policyWithRules,
  TEST_AUDIENCE,
  type HttpResult,
} from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

const policy = policyWithRules(`  - name: api-and-shared
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [prod/api/*, shared/*]
`);

const clock = new ManualClock('2030-01-09T09:30:00Z');
let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start({ policy, clock });
  for (const value of ['db-v1', 'db-v2', 'db-v3']) await harness.setSecret('prod/api/DB_PASSWORD', value);
  await harness.setSecret('prod/api/GONE', 'gone-v1');
  await harness.setSecret('prod/api/PURGED', 'purged-v1');
  await harness.setSecret('other/NOT_GRANTED', 'never-released');
  await harness.setSecret('prod/api/TOKEN', 'own-token');
  await harness.setSecret('shared/TOKEN', 'shared-token-v1');
  await harness.setSecret('shared/TOKEN', 'shared-token-v2');
  await harness.setSecret('shared/ONLY_SHARED', 'only-shared');
  await harness.setSecret('other/TOKEN', 'not-granted-token');
  const expiring = await harness.admin('PUT', '/secrets/prod/api/EXPIRING', {
    value: 'own-expiring',
    conditions: { expires_at: '2030-01-10T00:00:00Z' },
  });
  if (expiring.status !== 201) throw new Error(expiring.text);
  await harness.setSecret('shared/EXPIRING', 'shared-fallback');
});

afterAll(async () => {
  await harness?.close();
});

const token = (): Promise<string> => harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));

/** An exchange, and what its boxes hold (each checked to carry the name and version it is listed under). */
async function exchange(secrets: string[]): Promise<{ result: HttpResult; values: unknown[] }> {
  const recipient = newRecipient();
  const result = await harness.exchange(await token(), secrets, recipient);
  const listed =
    result.status === 200 ? (result.json.secrets as { name: string; version: number; sealed: string }[]) : [];
  const values = listed.map((secret) => {
    const payload = openSealed(secret.sealed, recipient);
    expect(payload).toMatchObject({ name: secret.name, version: secret.version });
    return payload;
  });
  return { result, values };
}

function expectProblem(result: HttpResult, status: number, code: string): void {
  expect(result.status, result.text).toBe(status);
  expect(result.json.code).toBe(code);
  expect(result.text).not.toContain('"sealed"');
}

/** The problem without its request id, with `entry` written as ENTRY: two refusals that must not differ. */
function comparable(result: HttpResult, entry: string): string {
  return JSON.stringify({ ...result.json, request_id: undefined }).replaceAll(entry, 'ENTRY');
}

describe('versions', () => {
  it('releases the version asked for, and the current one without "@"', async () => {
    expect((await exchange(['prod/api/DB_PASSWORD@1'])).values).toEqual([
      { name: 'prod/api/DB_PASSWORD', version: 1, value: 'db-v1' },
    ]);
    expect((await exchange(['prod/api/DB_PASSWORD'])).values).toEqual([
      { name: 'prod/api/DB_PASSWORD', version: 3, value: 'db-v3' },
    ]);
  });

  it('releases two versions of one name side by side, and the current one once', async () => {
    const { values } = await exchange([
      'prod/api/DB_PASSWORD',
      'prod/api/DB_PASSWORD@2',
      'prod/api/DB_PASSWORD@3',
    ]);
    expect(values).toEqual([
      { name: 'prod/api/DB_PASSWORD', version: 3, value: 'db-v3' },
      { name: 'prod/api/DB_PASSWORD', version: 2, value: 'db-v2' },
    ]);
  });

  it('audits the versions released', async () => {
    const { result } = await exchange(['prod/api/DB_PASSWORD@2']);
    expect(await harness.auditRecord(result.json.request_id)).toMatchObject({
      outcome: 'allowed',
      requested: ['prod/api/DB_PASSWORD@2'],
      released: [{ name: 'prod/api/DB_PASSWORD', version: 2 }],
      fallbacks: [],
      conditions: [],
    });
  });

  it('a version never stored is secret_not_found, and optional it is left out', async () => {
    const { result } = await exchange(['prod/api/DB_PASSWORD@9']);
    expectProblem(result, 404, 'secret_not_found');
    expect(result.json.secrets).toEqual(['prod/api/DB_PASSWORD@9']);
    expect(result.json.hint).toContain('secrets-broker secret versions NAME');
    expect((await exchange(['prod/api/DB_PASSWORD@9?'])).values).toEqual([]);
  });

  it('after a delete the kept versions are history, not released; after a purge they are gone', async () => {
    expect((await harness.admin('DELETE', '/secrets/prod/api/GONE')).status).toBeLessThan(300);
    expectProblem((await exchange(['prod/api/GONE@1'])).result, 404, 'secret_not_found');
    expect((await harness.admin('DELETE', '/secrets/prod/api/PURGED?purge=true')).status).toBeLessThan(300);
    const purged = (await exchange(['prod/api/PURGED@1'])).result;
    expectProblem(purged, 404, 'secret_not_found');
    expect(purged.text).not.toContain('purged-v1');
  });

  it('a version of a name not granted is policy_denied, the same answer whether it is stored or not', async () => {
    const stored = (await exchange(['other/NOT_GRANTED@1'])).result;
    const missing = (await exchange(['other/NEVER_STORED@1'])).result;
    expectProblem(stored, 403, 'policy_denied');
    expectProblem(missing, 403, 'policy_denied');
    expect(comparable(stored, 'other/NOT_GRANTED')).toBe(comparable(missing, 'other/NEVER_STORED'));
    expect(stored.text).not.toContain('never-released');
  });

  it('refuses malformed versions before the token is spent', async () => {
    const unspent = await token();
    for (const entry of ['prod/api/DB_PASSWORD@0', 'prod/api/DB_PASSWORD@-1', 'prod/api/DB_PASSWORD@']) {
      const result = await harness.exchange(unspent, [entry]);
      expectProblem(result, 400, 'invalid_request');
      expect(result.json.detail).toContain(entry);
    }
    expect((await harness.exchange(unspent, ['prod/api/DB_PASSWORD@1'])).status).toBe(200);
  });
});

describe('alternatives', () => {
  it('releases the first alternative when it is granted and stored, and audits which was used', async () => {
    const entry = 'prod/api/TOKEN|shared/TOKEN';
    const { result, values } = await exchange([entry]);
    expect(values).toEqual([{ name: 'prod/api/TOKEN', version: 1, value: 'own-token' }]);
    const record = await harness.auditRecord(result.json.request_id);
    expect(record).toMatchObject({
      outcome: 'allowed',
      requested: [entry],
      released: [{ name: 'prod/api/TOKEN', version: 1 }],
      fallbacks: [{ entry, used: 'prod/api/TOKEN' }],
    });
  });

  it('falls back to the next one when the first is granted but not stored', async () => {
    const entry = 'prod/api/ONLY_SHARED|shared/ONLY_SHARED';
    const { result, values } = await exchange([entry]);
    expect(values).toEqual([{ name: 'shared/ONLY_SHARED', version: 1, value: 'only-shared' }]);
    expect((await harness.auditRecord(result.json.request_id)).fallbacks).toEqual([
      { entry, used: 'shared/ONLY_SHARED' },
    ]);
  });

  it('skips a first alternative that is not granted, even though it is stored', async () => {
    const entry = 'other/TOKEN|shared/TOKEN';
    const { result, values } = await exchange([entry]);
    expect(values).toEqual([{ name: 'shared/TOKEN', version: 2, value: 'shared-token-v2' }]);
    expect(result.text).not.toContain('not-granted-token');
    expect((await harness.auditRecord(result.json.request_id)).fallbacks).toEqual([
      { entry, used: 'shared/TOKEN' },
    ]);
  });

  it('takes versions per alternative', async () => {
    const { values } = await exchange(['prod/api/MISSING|shared/TOKEN@1']);
    expect(values).toEqual([{ name: 'shared/TOKEN', version: 1, value: 'shared-token-v1' }]);
  });

  it('none granted is policy_denied, the same whether the ungranted names are stored or not', async () => {
    const stored = await exchange(['other/TOKEN|other/ALSO']);
    const missing = await exchange(['other/NEVER|other/ALSO']);
    expectProblem(stored.result, 403, 'policy_denied');
    expectProblem(missing.result, 403, 'policy_denied');
    expect(comparable(stored.result, 'other/TOKEN')).toBe(comparable(missing.result, 'other/NEVER'));
    // The hint explains every alternative, not only the first.
    const hint = String(stored.result.json.hint);
    expect(hint).toContain('"other/TOKEN"');
    expect(hint).toContain('"other/ALSO"');
  });

  it('granted but none stored is secret_not_found, and never reveals a stored ungranted alternative', async () => {
    const stored = await exchange(['other/TOKEN|prod/api/MISSING']);
    const missing = await exchange(['other/NEVER|prod/api/MISSING']);
    expectProblem(stored.result, 404, 'secret_not_found');
    expect(stored.result.json.secrets).toEqual(['other/TOKEN|prod/api/MISSING']);
    expect(comparable(stored.result, 'other/TOKEN')).toBe(comparable(missing.result, 'other/NEVER'));
    const record = await harness.auditRecord(stored.result.json.request_id);
    expect(record.fallbacks).toEqual([{ entry: 'other/TOKEN|prod/api/MISSING', used: null }]);
  });

  it('an optional entry with nothing stored is left out, and the rest is released', async () => {
    const { result, values } = await exchange(['prod/api/MISSING|shared/MISSING?', 'shared/ONLY_SHARED']);
    expect(result.status).toBe(200);
    expect(values).toEqual([{ name: 'shared/ONLY_SHARED', version: 1, value: 'only-shared' }]);
  });

  it('a condition on the winner refuses: it never falls through to the next alternative', async () => {
    clock.set('2030-01-11T00:00:00Z');
    const { result } = await exchange(['prod/api/EXPIRING|shared/EXPIRING']);
    expectProblem(result, 403, 'secret_expired');
    expect(result.json.secrets).toEqual(['prod/api/EXPIRING']);
    expect(result.text).not.toContain('shared-fallback');
    const record = await harness.auditRecord(result.json.request_id);
    expect(record).toMatchObject({
      released: [],
      conditions: [expect.objectContaining({ code: 'secret_expired', secret: 'prod/api/EXPIRING' })],
    });
  });
});
