/**
 * The broker's real answers, route by route, parsed with the admin API schemas the CLI parses them with
 * (src/protocol/admin-api.ts). The schemas are strict: a key the broker adds, drops or renames fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  auditPageResponseSchema,
  auditVerifyResponseSchema,
  explainResponseSchema,
  rotationBatchResponseSchema,
  rotationStatusResponseSchema,
  secretDeleteResponseSchema,
  secretListResponseSchema,
  secretWriteResponseSchema,
  tokenCreateResponseSchema,
  tokenListResponseSchema,
  tokenRevokeResponseSchema,
  whoamiResponseSchema,
} from '../../src/protocol/admin-api.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE, type HttpResult } from '../helpers/broker-harness.js';

let h: BrokerHarness;

beforeAll(async () => {
  h = await BrokerHarness.start();
  await h.setSecret('prod/api/DB_PASSWORD', 'schema-test-value');
  const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
  expect((await h.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
});

afterAll(async () => {
  await h?.close();
});

/** The answer's JSON, parsed by `schema` exactly (every key of the answer is one the schema names). */
function answerOf<S extends z.ZodType>(result: HttpResult, status: number, schema: S): z.infer<S> {
  expect(result.status, result.text).toBe(status);
  const parsed = schema.safeParse(JSON.parse(result.text));
  expect(parsed.success ? [] : parsed.error.issues, result.text).toEqual([]);
  return parsed.data as z.infer<S>;
}

describe('every admin route answers exactly its schema', () => {
  it('whoami', async () => {
    expect(answerOf(await h.admin('GET', '/whoami'), 200, whoamiResponseSchema)).toEqual({
      token_id: 'environment',
      label: 'SECRETS_BROKER_BOOTSTRAP_TOKEN',
      role: 'owner',
    });
  });

  it('secrets: set, dry run, list, delete', async () => {
    const written = answerOf(
      await h.admin('PUT', '/secrets/prod/api/SCHEMA', { value: 'v1' }),
      201,
      secretWriteResponseSchema,
    );
    expect(written).toMatchObject({ name: 'prod/api/SCHEMA', version: 1, dry_run: false });
    const dryRun = answerOf(
      await h.admin('PUT', '/secrets/prod/api/SCHEMA', { value: 'v2', dry_run: true }),
      200,
      secretWriteResponseSchema,
    );
    expect(dryRun).toMatchObject({ version: 2, dry_run: true });
    const { secrets } = answerOf(
      await h.admin('GET', '/secrets?prefix=prod/'),
      200,
      secretListResponseSchema,
    );
    expect(secrets.map((secret) => secret.name)).toEqual(['prod/api/DB_PASSWORD', 'prod/api/SCHEMA']);
    expect(
      answerOf(await h.admin('DELETE', '/secrets/prod/api/SCHEMA'), 200, secretDeleteResponseSchema),
    ).toEqual({ name: 'prod/api/SCHEMA', deleted: true });
  });

  it('tokens: create, list (with a revoked one), revoke', async () => {
    const created = answerOf(
      await h.admin('POST', '/tokens', { label: 'schema', role: 'auditor' }),
      201,
      tokenCreateResponseSchema,
    );
    expect(created).toMatchObject({ label: 'schema', role: 'auditor' });
    expect(
      answerOf(await h.admin('DELETE', `/tokens/${created.id}`), 200, tokenRevokeResponseSchema),
    ).toEqual({ id: created.id, revoked: true });
    const { tokens } = answerOf(await h.admin('GET', '/tokens'), 200, tokenListResponseSchema);
    expect(tokens.find((token) => token.id === created.id)?.revoked_at).toEqual(expect.any(String));
  });

  it('audit: a page with exchange and admin records, and the next cursor', async () => {
    const page = answerOf(await h.admin('GET', '/audit?limit=2'), 200, auditPageResponseSchema);
    expect(page.records).toHaveLength(2);
    expect(page.next_after).toBe(page.records[1]?.seq);
    const all = answerOf(await h.admin('GET', '/audit?limit=1000'), 200, auditPageResponseSchema);
    expect(new Set(all.records.map((record) => record.kind))).toEqual(new Set(['admin', 'exchange']));
    expect(all.next_after).toBeNull();
  });

  it('audit verify, with a published head', async () => {
    const first = answerOf(await h.admin('GET', '/audit/verify'), 200, auditVerifyResponseSchema);
    expect(first.ok).toBe(true);
    const head = `${first.head!.seq}:${first.head!.hash}`;
    const again = answerOf(
      await h.admin('GET', `/audit/verify?head=${encodeURIComponent(head)}`),
      200,
      auditVerifyResponseSchema,
    );
    // This broker sends every key, also those older brokers did not.
    expect(Object.keys(again).sort()).toEqual(
      Object.keys(auditVerifyResponseSchema.shape)
        .filter((key) => key !== 'problem')
        .sort(),
    );
    expect(again.heads_matched).toEqual([first.head!.seq]);
  });

  it('policy explain, for claims and for a token', async () => {
    const claims = githubClaims(h.github.url, TEST_AUDIENCE);
    const forClaims = answerOf(
      await h.admin('POST', '/policy/explain', { claims, secrets: ['prod/api/DB_PASSWORD', 'nope/X'] }),
      200,
      explainResponseSchema,
    );
    expect(forClaims.token).toBeNull();
    expect(forClaims.matched_rules).toContain('api-deploy-prod');
    const token = await h.github.token({ ...claims, aud: 'https://someone-else.example' });
    const forToken = answerOf(
      await h.admin('POST', '/policy/explain', { token, secrets: ['prod/api/DB_PASSWORD'] }),
      200,
      explainResponseSchema,
    );
    expect(forToken.token?.refused).not.toBeNull();
  });

  it('key rotation: begin and a batch', async () => {
    const status = answerOf(await h.admin('POST', '/keys/rotate'), 200, rotationStatusResponseSchema);
    const batch = answerOf(
      await h.admin('POST', '/keys/rotate/batch', { target_key_id: status.target_key_id, size: 1000 }),
      200,
      rotationBatchResponseSchema,
    );
    expect(batch).toMatchObject({ target_key_id: status.target_key_id, remaining: 0 });
  });
});

describe('the schemas are strict', () => {
  it('refuse an answer with a key added or renamed', () => {
    const answer = { name: 'a/B', version: 1, bytes: 1, sha256: 'ab', dry_run: false };
    expect(secretWriteResponseSchema.safeParse(answer).success).toBe(true);
    expect(secretWriteResponseSchema.safeParse({ ...answer, value: 'leak' }).success).toBe(false);
    const { dry_run: dryRun, ...renamed } = answer;
    expect(secretWriteResponseSchema.safeParse({ ...renamed, dryRun }).success).toBe(false);
  });
});
