/**
 * The GitLab component with entries holding "|" and "@" (alternatives and versions), run by gitlab-ci-local
 * against the real broker: the entries reach secrets-fetch as written (the input's pattern takes them and the
 * shell does not read them), and the job log says which alternative was used.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { EXAMPLE_SCRIPTS, examplePipeline, GitlabProject } from '../helpers/gitlab-project.js';

let harness: BrokerHarness;
let project: GitlabProject;
const values = {
  db: canary('gitlab-fallback-db'),
  old: canary('gitlab-token-v1'),
  current: canary('gitlab-token-v2'),
};

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.old);
  await harness.setSecret('prod/web/token', values.current);
  project = await GitlabProject.create(harness, await examplePipeline(), EXAMPLE_SCRIPTS);
});

afterAll(async () => {
  await harness?.close();
});

describe('GitLab component with versions and alternatives', () => {
  it('passes a|b and NAME@1 to secrets-fetch intact and logs the alternative used, never a value', async () => {
    const { code, log } = await project.runJob('deploy', {
      inputs: {
        secrets: 'DB_PASSWORD=prod/web/override/DB_PASSWORD|prod/web/DB_PASSWORD API_TOKEN=prod/web/token@1',
      },
    });
    expect(log).toContain('json schema validated');
    expect(code, log).toBe(0);
    expect(await readFile(join(project.dir, 'proof-deploy-db'), 'utf8')).toBe(values.db);
    expect(await readFile(join(project.dir, 'proof-deploy-token'), 'utf8')).toBe(values.old);
    expect(log).toContain(
      'DB_PASSWORD from prod/web/DB_PASSWORD (prod/web/override/DB_PASSWORD not granted or not stored)',
    );
    expect(findLeaks(Object.values(values), { 'job log': log })).toEqual([]);
  });
});
