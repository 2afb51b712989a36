/**
 * The GitLab component, run by gitlab-ci-local (schema validation on, shell executor) against the real broker,
 * with GitLab-shaped ID tokens minted by oauth2-mock-server and passed as the id_tokens variables.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { EXAMPLE_SCRIPTS, examplePipeline, GitlabProject } from '../helpers/gitlab-project.js';

let harness: BrokerHarness;
let project: GitlabProject;
const values = { db: canary('gitlab-db'), token: canary('gitlab-token') };

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.token);
  project = await GitlabProject.create(harness, await examplePipeline(), EXAMPLE_SCRIPTS);
});

afterAll(async () => {
  await harness?.close();
});

describe('GitLab component', () => {
  it("validates against GitLab's schema and exports the secrets into the job's shell without logging them", async () => {
    const { code, log } = await project.runJob('deploy');
    expect(log).toContain('json schema validated');
    expect(code, log).toBe(0);
    expect(log).toContain('deployed');
    // The shell executor runs the job in the project directory itself.
    expect(await readFile(join(project.dir, 'proof-deploy-db'), 'utf8')).toBe(values.db);
    expect(await readFile(join(project.dir, 'proof-deploy-token'), 'utf8')).toBe(values.token);
    expect(findLeaks(Object.values(values), { 'job log': log })).toEqual([]);
  });

  it('exec gives the secrets to one command and redacts them from its output', async () => {
    const { code, log } = await project.runJob('migrate');
    expect(code, log).toBe(0);
    expect(log).toContain('migrating with *** and ***');
    expect(log).toContain('args: --apply');
    expect(findLeaks(Object.values(values), { 'job log': log })).toEqual([]);
  });
});
