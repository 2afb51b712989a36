/**
 * The GitLab component passes a value between two jobs of one pipeline, run by gitlab-ci-local against the real
 * broker: the first job exports variables and calls secrets_action_put (put_outputs, with tokens of its own),
 * the second reads them as run/NAME entries. secrets-fetch.js is the one the end-to-end tests run (dist/, or
 * SECRETS_ACTION_TEST_DIST), its checksum the fetch_sha256 input.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, policyWithRules, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { GitlabProject } from '../helpers/gitlab-project.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { distFile } from '../helpers/runner.js';

const PIPELINE = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/gitlab@$CI_COMMIT_SHA
    inputs:
      broker_url: https://secrets.example.com
      audience: https://secrets.example.com
      fetch_sha256: 0000000000000000000000000000000000000000000000000000000000000000

stages: [provision, use]

provision:
  stage: provision
  extends: .secrets-action
  variables:
    SECRETS_ACTION_SECRETS: ''
    SECRETS_ACTION_PUT_OUTPUTS: db/url=DB_URL TOKEN
    SECRETS_ACTION_PUT_OUTPUTS_TTL: 1h
  script:
    - export DB_URL="$(cat made-url)"
    - export TOKEN="$(cat made-token)"
    - secrets_action_put

use:
  stage: use
  extends: .secrets-action-exec
  variables:
    SECRETS_ACTION_SECRETS: run/db/url MY_TOKEN=run/TOKEN
    SECRETS_ACTION_PUT_OUTPUTS: ''
  script:
    - secrets_action_exec ./use.sh

nothing:
  stage: use
  extends: .secrets-action
  variables:
    SECRETS_ACTION_SECRETS: ''
    SECRETS_ACTION_PUT_OUTPUTS: ''
  script:
    - echo never
`;

const values = { url: canary('gitlab-put-url'), token: canary('gitlab-put-token') };
let harness: BrokerHarness;
let project: GitlabProject;
let fetchSha256: string;

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy: policyWithRules(`  - name: outputs
    issuer: gitlab
    claims:
      project_id: "4242"
    secrets:
      - run/**
`),
  });
  const secretsFetch = await readFile(distFile('secrets-fetch.js'));
  fetchSha256 = createHash('sha256').update(secretsFetch).digest('hex');
  project = await GitlabProject.create(harness, PIPELINE, {
    'dist/secrets-fetch.js': secretsFetch.toString('utf8'),
    'made-url': values.url,
    'made-token': values.token,
    'use.sh':
      '#!/bin/sh\nset -eu\nprintf %s "$URL" > proof-use-url\nprintf %s "$MY_TOKEN" > proof-use-token\necho "used $URL"\n',
  });
}, 120_000);

afterAll(async () => {
  await harness?.close();
});

async function putTokens(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    [1, 2, 3].map(async (index) => [
      `SECRETS_ACTION_PUT_ID_TOKEN_${index}`,
      await harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE)),
    ]),
  );
  return Object.fromEntries(entries) as Record<string, string>;
}

describe('GitLab component: outputs between the jobs of one pipeline', () => {
  it('provision puts with secrets_action_put, use gets them as run/NAME; no value in either log', async () => {
    const provision = await project.runJob('provision', {
      inputs: { fetch_sha256: fetchSha256 },
      pipelineVariables: await putTokens(),
    });
    expect(provision.log).toContain('json schema validated');
    expect(provision.code, provision.log).toBe(0);
    expect(provision.log).toMatch(/put 2 output\(s\) \(request id \S+\)/);
    expect(provision.log).toContain('run/db/url ');

    const use = await project.runJob('use', { inputs: { fetch_sha256: fetchSha256 } });
    expect(use.code, use.log).toBe(0);
    expect(await readFile(join(project.dir, 'proof-use-url'), 'utf8')).toBe(values.url);
    expect(await readFile(join(project.dir, 'proof-use-token'), 'utf8')).toBe(values.token);
    expect(use.log).toContain('used ***');
    expect(findLeaks(Object.values(values), { provision: provision.log, use: use.log })).toEqual([]);
  });

  it('a job with neither secrets nor outputs fails, saying so', async () => {
    const run = await project.runJob('nothing', { inputs: { fetch_sha256: fetchSha256 } });
    expect(run.code).not.toBe(0);
    expect(run.log).toContain('the secrets and put_outputs inputs are both empty');
    expect(run.log).not.toContain('never');
  });
});
