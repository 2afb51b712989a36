/**
 * Key binding through the bundles as the runner runs them (issue 18): with a policy that requires bound tokens
 * for the GitHub issuer, the action binds each token to its step's key by default (it learns it from /v1/info),
 * for fetches, lists and puts; `key-binding: false` sends a plain token, which the broker refuses with a hint;
 * secrets-fetch on a GitHub runner binds too, and refuses `--key-binding on` for tokens it did not request.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary } from '../helpers/canary.js';
import { run } from '../helpers/child-process.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { newRunnerDirectory, runStep, type StepResult } from '../helpers/runner.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

const REPO_ROOT = join(import.meta.dirname, '../..');
const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');
const VALUE = canary('key-binding-e2e');
const BOUND = new RegExp(`^${TEST_AUDIENCE.replaceAll('.', '\\.')}/key-binding/[A-Za-z0-9_-]{43}$`);

const policy = (githubUrl: string, gitlabUrl: string) => `version: 1
audience: ${TEST_AUDIENCE}
issuers:
  github:
    url: ${githubUrl}
    key_binding: required
  gitlab:
    url: ${gitlabUrl}
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

let harness: BrokerHarness;
let tokens: TokenEndpoint;

beforeAll(async () => {
  harness = await BrokerHarness.start({ policy });
  tokens = await new TokenEndpoint(harness.github).start();
  await harness.setSecret('prod/api/TOKEN', VALUE);
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

async function step(node: string, inputs: Record<string, string>, environment: Record<string, string> = {}) {
  const before = tokens.audiences.length;
  const result = await runStep('main', await newRunnerDirectory(), {
    node,
    tokenEndpoint: tokens,
    inputs: { 'broker-url': harness.url, audience: TEST_AUDIENCE, 'timeout-seconds': '10', ...inputs },
    environment,
  });
  return { result, audiences: tokens.audiences.slice(before) };
}

function requestIdIn(result: StepResult): string {
  const id = /request id ([0-9a-f-]{36})/.exec(result.stdout)?.[1];
  expect(id, result.stdout).toBeDefined();
  return id as string;
}

describeEachNode('the action binds its tokens to its key where the policy requires it', (node) => {
  it('fetches with a bound token by default; the audit record says it was bound', async () => {
    const { result, audiences } = await step(node, { secrets: 'API_TOKEN=prod/api/TOKEN' });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.env.API_TOKEN).toBe(VALUE);
    expect(audiences).toHaveLength(1);
    expect(audiences[0]).toMatch(BOUND);
    const record = await harness.auditRecord(requestIdIn(result));
    expect(record).toMatchObject({ outcome: 'allowed', key_bound: true });
  });

  it('lists and puts with bound tokens and a proof of their key', async () => {
    const listed = await step(node, { 'list-only': 'true', secrets: '' });
    expect(listed.result.code, listed.result.stdout).toBe(0);
    expect(JSON.parse(listed.result.outputs.names as string)).toEqual(['prod/api/TOKEN']);
    expect(listed.audiences[0]).toMatch(BOUND);
    const put = await step(node, { 'put-outputs': 'DIGEST', secrets: '' }, { DIGEST: 'sha256:abc' });
    expect(put.result.code, put.result.stdout).toBe(0);
    expect(put.audiences[0]).toMatch(BOUND);
  });

  it('key-binding: false sends a plain token, and the broker says binding is required', async () => {
    const { result, audiences } = await step(node, {
      secrets: 'API_TOKEN=prod/api/TOKEN',
      'key-binding': 'false',
    });
    expect(result.code).toBe(1);
    expect(audiences).toEqual([TEST_AUDIENCE]);
    expect(result.stdout).toContain('key_binding_required');
    expect(result.stdout).toContain('requires tokens bound');
    expect(result.env.API_TOKEN).toBeUndefined();
    expect(result.stdout).not.toContain(VALUE);
  });

  it('refuses a key-binding value it does not know before asking for a token', async () => {
    const { result, audiences } = await step(node, {
      secrets: 'API_TOKEN=prod/api/TOKEN',
      'key-binding': 'maybe',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('the key-binding input must be auto, true or false, not "maybe"');
    expect(audiences).toEqual([]);
  });

  it('secrets-fetch on a GitHub runner binds; --key-binding on with a token minted before it is a clear error', async () => {
    const before = tokens.audiences.length;
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
    };
    const fetched = await run(
      node,
      [
        FETCH,
        '--broker',
        harness.url,
        '--audience',
        TEST_AUDIENCE,
        '--secret',
        'prod/api/TOKEN',
        '--format',
        'json',
      ],
      { env },
    );
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(JSON.parse(fetched.stdout)).toEqual({ TOKEN: VALUE });
    expect(tokens.audiences.slice(before)).toHaveLength(1);
    expect(tokens.audiences.at(-1)).toMatch(BOUND);

    const gitlabToken = await harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE));
    const fixed = await run(
      node,
      [
        FETCH,
        '--broker',
        harness.url,
        '--secret',
        'prod/api/TOKEN',
        '--token-env',
        'JOB_TOKEN',
        '--key-binding',
        'on',
      ],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, JOB_TOKEN: gitlabToken } },
    );
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toContain('these tokens cannot be bound');
    // auto with a GitLab token: plain, accepted where binding is optional.
    const auto = await run(
      node,
      [
        FETCH,
        '--broker',
        harness.url,
        '--secret',
        'prod/api/TOKEN',
        '--token-env',
        'JOB_TOKEN',
        '--format',
        'json',
      ],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, JOB_TOKEN: gitlabToken } },
    );
    expect(auto.code, auto.stderr).toBe(0);
    const usage = await run(node, [FETCH, '--broker', harness.url, '--secret', 'x', '--key-binding', 'yes'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--key-binding must be auto, on or off');
  });
});
