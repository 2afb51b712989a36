/**
 * Key binding against the real broker and a real issuer (issue 18): a token whose audience carries the digest of
 * the request's key releases; with any other key it is refused (key_binding_mismatch) and NOT spent; an unbound
 * token is refused where its issuer requires binding and accepted where binding is optional; `off` takes only the
 * plain audience; per-issuer audiences; lists and puts prove they hold the bound key (Secrets-Key-Proof).
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundAudience, KEY_PROOF_HEADER } from '../../src/protocol/key-binding.js';
import { keyProofHeader } from '../../src/client/key-binding.js';
import { newRecipientKeyPair, type RecipientKeyPair } from '../../src/client/sealed-box.js';
import {
  BrokerHarness,
  newRecipient,
  openSealed,
  TEST_AUDIENCE,
  type HttpResult,
  type KeyPair,
} from '../helpers/broker-harness.js';
import { githubClaims, gitlabClaims, type Claims } from '../helpers/oidc-issuer.js';
import { sealOutput } from './run-outputs-sealing.js';

const GITLAB_AUDIENCE = 'gitlab-secrets-broker';
const CANARY = 'canary-key-binding-7f3a9c';

function policy(gitlabBinding: 'optional' | 'off', githubBinding = 'required') {
  return (githubUrl: string, gitlabUrl: string) => `version: 1
audience: ${TEST_AUDIENCE}
issuers:
  github:
    url: ${githubUrl}
    key_binding: ${githubBinding}
  gitlab:
    url: ${gitlabUrl}
    audience: ${GITLAB_AUDIENCE}
    key_binding: ${gitlabBinding}
rules:
  - name: api
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [prod/api/*, run/*]
  - name: web
    issuer: gitlab
    claims: { project_id: "4242" }
    secrets: [prod/api/*]
`;
}

let h: BrokerHarness;

beforeAll(async () => {
  h = await BrokerHarness.start({ policy: policy('optional') });
  await h.setSecret('prod/api/TOKEN', CANARY);
});

afterAll(async () => {
  await h?.close();
});

async function usePolicy(text: (githubUrl: string, gitlabUrl: string) => string): Promise<void> {
  await writeFile(h.policyFile, text(h.github.url, h.gitlab.url));
  const result = await h.broker.reloadPolicy();
  expect(result.ok, JSON.stringify(result)).toBe(true);
}

const github = (audience: string, overrides: Claims = {}) =>
  h.github.token(githubClaims(h.github.url, audience, overrides));
const gitlab = (audience: string, overrides: Claims = {}) =>
  h.gitlab.token(gitlabClaims(h.gitlab.url, audience, overrides));

function released(result: HttpResult, recipient: KeyPair): unknown[] {
  expect(result.status, result.text).toBe(200);
  return (result.json.secrets as { sealed: string }[]).map((item) => openSealed(item.sealed, recipient));
}

function expectProblem(result: HttpResult, status: number, code: string): void {
  expect(result.status, result.text).toBe(status);
  expect(result.json.code).toBe(code);
  expect(result.text).not.toContain(CANARY);
}

async function runOutputKey(): Promise<Buffer> {
  const info = await h.request('GET', '/v1/info');
  return Buffer.from(info.json.run_output_key as string, 'base64');
}

/** A list or put with its body and, when `proof` is given, the key proof header the clients send. */
async function proven(
  path: '/v1/list' | '/v1/outputs',
  token: string,
  body: string,
  proof?: { keyPair: RecipientKeyPair; brokerKey?: Buffer; provenBody?: string; provenToken?: string },
): Promise<HttpResult> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    authorization: `Bearer ${token}`,
  };
  if (proof !== undefined)
    headers[KEY_PROOF_HEADER] = keyProofHeader(proof.keyPair, proof.brokerKey ?? (await runOutputKey()), {
      method: 'POST',
      path,
      token: proof.provenToken ?? token,
      body: Buffer.from(proof.provenBody ?? body, 'utf8'),
    });
  return h.request('POST', path, { headers, body });
}

describe('exchange with key binding', () => {
  it('/v1/info tells clients each issuer audience and key_binding', async () => {
    const info = await h.request('GET', '/v1/info');
    expect(info.json.issuers).toEqual([
      { name: 'github', url: h.github.url, audience: TEST_AUDIENCE, key_binding: 'required' },
      { name: 'gitlab', url: h.gitlab.url, audience: GITLAB_AUDIENCE, key_binding: 'optional' },
    ]);
  });

  it('a bound token releases to the key it is bound to; with another key it is refused and not spent', async () => {
    const job = newRecipient();
    const token = await github(boundAudience(TEST_AUDIENCE, job.publicKey));
    const attacker = newRecipient();
    const stolen = await h.exchange(token, ['prod/api/TOKEN'], attacker);
    expectProblem(stolen, 401, 'key_binding_mismatch');
    expect(stolen.json.detail).toMatch(/bound to another key than this request's recipient/);
    expect(stolen.json.hint).toMatch(/not spent/);
    const record = await h.auditRecord(stolen.json.request_id);
    expect(record).toMatchObject({ outcome: 'denied', code: 'key_binding_mismatch', token_verified: true });
    // The same token, now with the key it was bound to: it was not spent by the refusal.
    const own = await h.exchange(token, ['prod/api/TOKEN'], job);
    expect(released(own, job)).toEqual([{ name: 'prod/api/TOKEN', version: 1, value: CANARY }]);
    expect(await h.auditRecord(own.json.request_id)).toMatchObject({ outcome: 'allowed', key_bound: true });
    // And now it is spent.
    expectProblem(await h.exchange(token, ['prod/api/TOKEN'], job), 401, 'token_replayed');
  });

  it('an http(s) audience binds in its one spelling (trailing slash, case, default port)', async () => {
    const job = newRecipient();
    const spelled = `${TEST_AUDIENCE.replace('https://', 'HTTPS://')}:443/`;
    const token = await github(boundAudience(spelled, job.publicKey));
    expect(released(await h.exchange(token, ['prod/api/TOKEN'], job), job)).toHaveLength(1);
  });

  it('an unbound token is refused where the issuer requires binding, and not spent', async () => {
    const job = newRecipient();
    const token = await github(TEST_AUDIENCE);
    const refused = await h.exchange(token, ['prod/api/TOKEN'], job);
    expectProblem(refused, 401, 'key_binding_required');
    expect(refused.json.detail).toMatch(/issuer "github" requires tokens bound/);
    expect(refused.json.hint).toContain(`${TEST_AUDIENCE}/key-binding/<key digest>`);
    // Not spent: once the issuer only makes binding optional, the same token releases.
    await usePolicy(policy('optional', 'optional'));
    try {
      expect(released(await h.exchange(token, ['prod/api/TOKEN'], job), job)).toHaveLength(1);
    } finally {
      await usePolicy(policy('optional'));
    }
  });

  it('where binding is optional, an unbound token is accepted and a bound one is checked', async () => {
    const job = newRecipient();
    const unbound = await gitlab(GITLAB_AUDIENCE);
    expect(released(await h.exchange(unbound, ['prod/api/TOKEN'], job), job)).toHaveLength(1);
    const boundToJob = await gitlab(boundAudience(GITLAB_AUDIENCE, job.publicKey));
    expectProblem(
      await h.exchange(boundToJob, ['prod/api/TOKEN'], newRecipient()),
      401,
      'key_binding_mismatch',
    );
    expect(released(await h.exchange(boundToJob, ['prod/api/TOKEN'], job), job)).toHaveLength(1);
  });

  it('each issuer has its own audience: the top-level one does not open the GitLab issuer', async () => {
    const job = newRecipient();
    const wrong = await h.exchange(await gitlab(TEST_AUDIENCE), ['prod/api/TOKEN'], job);
    expectProblem(wrong, 401, 'invalid_token');
    expect(wrong.json.detail).toContain(`the audience of issuer "gitlab", "${GITLAB_AUDIENCE}"`);
    // Bound to the other issuer's audience is no binding to this one.
    const crossed = await h.exchange(
      await gitlab(boundAudience(TEST_AUDIENCE, job.publicKey)),
      ['prod/api/TOKEN'],
      job,
    );
    expectProblem(crossed, 401, 'invalid_token');
  });

  it('with key_binding: off only the plain audience is taken', async () => {
    await usePolicy(policy('off'));
    try {
      const job = newRecipient();
      const bound = await h.exchange(
        await gitlab(boundAudience(GITLAB_AUDIENCE, job.publicKey)),
        ['prod/api/TOKEN'],
        job,
      );
      expectProblem(bound, 401, 'invalid_token');
      expect(bound.json.detail).toMatch(/key_binding: off/);
      expect(
        released(await h.exchange(await gitlab(GITLAB_AUDIENCE), ['prod/api/TOKEN'], job), job),
      ).toHaveLength(1);
    } finally {
      await usePolicy(policy('optional'));
    }
  });

  it('a token naming two bound keys is refused', async () => {
    const job = newRecipient();
    const token = await github('unused', {
      aud: [
        boundAudience(TEST_AUDIENCE, job.publicKey),
        boundAudience(TEST_AUDIENCE, newRecipient().publicKey),
      ],
    });
    const result = await h.exchange(token, ['prod/api/TOKEN'], job);
    expectProblem(result, 401, 'invalid_token');
    expect(result.json.detail).toMatch(/more than one key/);
  });
});

describe('lists and puts prove they hold the bound key', () => {
  it('a list with a bound token needs the proof of its key; every refusal leaves the token unspent', async () => {
    const job = await newRecipientKeyPair();
    const token = await github(boundAudience(TEST_AUDIENCE, job.publicKey));
    const body = '{}';
    expectProblem(await proven('/v1/list', token, body), 401, 'key_binding_mismatch');
    // An attacker's own key and a valid proof of it: the token is bound to another key.
    const attacker = await newRecipientKeyPair();
    expectProblem(await proven('/v1/list', token, body, { keyPair: attacker }), 401, 'key_binding_mismatch');
    // The job's public key with a proof made without its private key (keyed from the attacker's).
    const forged = await proven('/v1/list', token, body, {
      keyPair: { publicKey: job.publicKey, privateKey: attacker.privateKey },
    });
    expectProblem(forged, 401, 'key_binding_mismatch');
    expect(forged.json.detail).toMatch(/proof does not verify/);
    // A proof of another body, of another token, and one keyed to another broker key.
    expectProblem(
      await proven('/v1/list', token, body, { keyPair: job, provenBody: '{"secrets":["prod/**"]}' }),
      401,
      'key_binding_mismatch',
    );
    expectProblem(
      await proven('/v1/list', token, body, { keyPair: job, provenToken: `${token}x` }),
      401,
      'key_binding_mismatch',
    );
    expectProblem(
      await proven('/v1/list', token, body, { keyPair: job, brokerKey: newRecipient().publicKey }),
      401,
      'key_binding_mismatch',
    );
    const listed = await proven('/v1/list', token, body, { keyPair: job });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json).toEqual({ secrets: [{ name: 'prod/api/TOKEN', version: 1 }] });
  });

  it('a malformed proof header is refused before the token is looked at', async () => {
    const token = await github(TEST_AUDIENCE);
    for (const header of [
      '',
      'x',
      'a b c',
      `${'A'.repeat(43)}= ${'A'.repeat(44)}`,
      `${'A'.repeat(43)}=  ${'A'.repeat(43)}=`,
    ]) {
      const result = await h.request('POST', '/v1/list', {
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          [KEY_PROOF_HEADER]: header,
        },
        body: '{}',
      });
      expectProblem(result, 400, 'invalid_request');
      expect(result.json.detail).toMatch(/Secrets-Key-Proof header/);
    }
  });

  it('a put with a bound token stores only with the proof, and the proof covers the outputs', async () => {
    const job = await newRecipientKeyPair();
    const token = await github(boundAudience(TEST_AUDIENCE, job.publicKey), { run_id: '777001' });
    const key = await runOutputKey();
    const body = JSON.stringify({
      outputs: [{ name: 'digest', sealed: sealOutput(key, { name: 'digest', value: 'sha256:1' }) }],
    });
    const swapped = JSON.stringify({
      outputs: [{ name: 'digest', sealed: sealOutput(key, { name: 'digest', value: 'evil' }) }],
    });
    // A relay that swaps the outputs under the job's proof is refused.
    expectProblem(
      await proven('/v1/outputs', token, swapped, { keyPair: job, provenBody: body }),
      401,
      'key_binding_mismatch',
    );
    expectProblem(await proven('/v1/outputs', token, body), 401, 'key_binding_mismatch');
    const stored = await proven('/v1/outputs', token, body, { keyPair: job });
    expect(stored.status, stored.text).toBe(200);
    // A later job of the same run reads what the job put.
    const reader = newRecipient();
    const read = await h.exchange(
      await github(boundAudience(TEST_AUDIENCE, reader.publicKey), { run_id: '777001' }),
      ['run/digest'],
      reader,
    );
    expect(released(read, reader)).toEqual([{ name: 'run/digest', version: 1, value: 'sha256:1' }]);
  });

  it('an unbound token where binding is optional needs no proof', async () => {
    const listed = await proven('/v1/list', await gitlab(GITLAB_AUDIENCE), '{}');
    expect(listed.status, listed.text).toBe(200);
  });
});
