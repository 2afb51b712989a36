/**
 * Cross-job outputs through the bundles as the runner and a job run them, against the real broker: one run of
 * the action puts values of its step's environment (masked before anything else), another run of the action
 * in the same workflow run gets them as run/NAME entries; another run or repository gets nothing, and
 * secrets-fetch put does the same from a job's environment. Never a value in a log but in add-mask commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, policyWithRules, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { run } from '../helpers/child-process.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { distFile, newRunnerDirectory, runStep, type StepResult } from '../helpers/runner.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

const OUTPUT_RULES = policyWithRules(`  - name: outputs
    issuer: github
    claims:
      repository_id: ["98765", "11111"]
    secrets:
      - run/**
`);

let harness: BrokerHarness;
let tokens: TokenEndpoint;

beforeAll(async () => {
  harness = await BrokerHarness.start({ policy: OUTPUT_RULES });
  tokens = await new TokenEndpoint(harness.github).start();
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

const actionInputs = (overrides: Record<string, string>) => ({
  'broker-url': harness.url,
  audience: TEST_AUDIENCE,
  'timeout-seconds': '10',
  ...overrides,
});

/** One step of a job of workflow run `runId` (repository 98765 unless told). */
async function step(
  node: string,
  runId: string,
  inputs: Record<string, string>,
  environment: Record<string, string> = {},
  repositoryId = '98765',
): Promise<StepResult> {
  tokens.claims = { run_id: runId, repository_id: repositoryId };
  try {
    return await runStep('main', await newRunnerDirectory(), {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs(inputs),
      environment,
    });
  } finally {
    tokens.claims = {};
  }
}

/** stdout without its add-mask commands, the only lines allowed to carry a value. */
const withoutMasks = (stdout: string): string =>
  stdout
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');

describeEachNode('the action puts outputs in one run of dist/ and gets them in another', (node) => {
  it('job A puts, masked first; job B of the same run gets them as run/NAME; another run or repository does not', async () => {
    const runId = `7${Date.now()}`;
    const url = `postgres://app:${canary('put-outputs-url')}@db/app`;
    const token = `line one\n${canary('put-outputs-token')}`;
    const put = await step(node, runId, { 'put-outputs': 'db/url=DB_URL\nTOKEN # not a comment\n' });
    // "TOKEN # not a comment" is not a name: the whole input is refused, nothing is put.
    expect(put.code).toBe(1);
    expect(put.stdout).toContain('put-outputs line 2 ("TOKEN # not a comment")');

    const jobA = await step(
      node,
      runId,
      { 'put-outputs': 'db/url=DB_URL\n# the token\nTOKEN', 'put-outputs-ttl': '1h' },
      { DB_URL: url, TOKEN: token },
    );
    expect(jobA.code, jobA.stdout).toBe(0);
    const lines = jobA.stdout.split('\n');
    const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
    // Every form of every value is masked before the step prints or sends anything.
    const masks = lines
      .slice(0, firstOther)
      .map((line) =>
        line
          .slice('::add-mask::'.length)
          .replaceAll('%0A', '\n')
          .replaceAll('%0D', '\r')
          .replaceAll('%25', '%'),
      );
    expect(masks).toEqual(
      expect.arrayContaining([
        url,
        token,
        token.split('\n')[1],
        Buffer.from(url).toString('base64'),
        encodeURIComponent(url),
      ]),
    );
    expect(jobA.stdout).toMatch(
      /Put 2 output\(s\) for later jobs of this run \(request id [^,]+, run-output key [^)]+\): db\/url until \S+, TOKEN until \S+\. Later jobs read them with the secrets entries run\/db\/url, run\/TOKEN\./,
    );
    expect(findLeaks([url, token], { stdout: withoutMasks(jobA.stdout), stderr: jobA.stderr })).toEqual([]);
    expect(jobA.env).toEqual({});

    const jobB = await step(node, runId, { secrets: 'run/db/url\nMY_TOKEN=run/TOKEN' });
    expect(jobB.code, jobB.stdout).toBe(0);
    expect(jobB.env).toEqual({ URL: url, MY_TOKEN: token });
    expect(findLeaks([url, token], { stdout: withoutMasks(jobB.stdout) })).toEqual([]);

    const otherRun = await step(node, `${runId}1`, { secrets: 'run/db/url' });
    expect(otherRun.code).toBe(1);
    expect(otherRun.stdout).toContain('(secret_not_found)');
    expect(otherRun.env).toEqual({});
    const otherRepository = await step(node, runId, { secrets: 'run/db/url' }, {}, '11111');
    expect(otherRepository.code).toBe(1);
    expect(otherRepository.stdout).toContain('(secret_not_found)');
    expect(findLeaks([url, token], { other: otherRun.stdout + otherRepository.stdout })).toEqual([]);
  });
});

describe('the action refuses a put it cannot do, before any token is spent', () => {
  it('names every unset or empty variable, and the run input of a step that only puts', async () => {
    const node = process.execPath;
    const before = tokens.audiences.length;
    const missing = await step(node, '1', { 'put-outputs': 'A\nB=EMPTY' }, { EMPTY: '' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      '::error::Invalid input:%0Aput-outputs line 1: the output "A" reads the variable A, which is not set (write it to GITHUB_ENV in an earlier step, after masking it there with ::add-mask::)%0Aput-outputs line 2: the output "B" reads the variable EMPTY, which is empty; an output needs a value',
    );
    const withRun = await step(node, '1', { 'put-outputs': 'A', run: 'true' }, { A: 'x' });
    expect(withRun.code).toBe(1);
    expect(withRun.stdout).toContain('the run input uses fetched secrets, and the secrets input is empty');
    expect(tokens.audiences.length).toBe(before);
  });
});

describe('secrets-fetch put', () => {
  it('puts values of its environment, and the action gets them in a later job of the run', async () => {
    const runId = `8${Date.now()}`;
    const value = canary('put-outputs-fetch');
    const token = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { run_id: runId }),
    );
    const result = await run(
      process.execPath,
      [
        distFile('secrets-fetch.js'),
        'put',
        '--broker',
        harness.url,
        '--output',
        'made/KEY=MADE',
        '--ttl',
        '10m',
        '--token-env',
        'T1',
      ],
      { env: { PATH: process.env.PATH, MADE: value, T1: token } },
    );
    expect(result.stderr).toMatch(/^secrets-fetch: put 1 output\(s\) \(request id \S+\)\n$/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^run\/made\/KEY \S+\n$/);
    const got = await step(process.execPath, runId, { secrets: 'run/made/KEY' });
    expect(got.code, got.stdout).toBe(0);
    expect(got.env).toEqual({ KEY: value });
  });
});
