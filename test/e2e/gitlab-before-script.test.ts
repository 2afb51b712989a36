/**
 * A job with its own before_script replaces the component's. With `!reference [.secrets-action, before_script]`
 * first it still gets its secrets; without it, the component's guard fails the job before its script goes on.
 * Run by gitlab-ci-local against the real broker, like the example pipeline (see gitlab-project.ts).
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT } from '../helpers/child-process.js';
import { EXAMPLE_SCRIPTS, examplePipeline, GitlabProject, type JobRun } from '../helpers/gitlab-project.js';

const GUARD = `test "\${SECRETS_ACTION_READY-}" = "\${CI_JOB_ID:?}" || { printf '%s\\n' "$SECRETS_ACTION_NOT_READY" >&2; exit 1; }`;

const NOT_READY =
  "secrets-action: the secrets were not fetched: the component's before_script did not run (a job's own before_script replaces it); make - !reference [.secrets-action, before_script] the first entry of this job's before_script";
const EXEC_NOT_READY =
  "secrets-action: secrets_action_exec is not defined: the component's before_script did not run (a job's own before_script replaces it); make - !reference [.secrets-action-exec, before_script] the first entry of this job's before_script";

// Jobs written as users write them next to the example's; the flow form is the one from the issue.
const JOBS = `
default:
  before_script: [echo default-setup]

with-default-before-script:
  stage: deploy
  extends: .secrets-action
  before_script:
    - !reference [default, before_script]
    - !reference [.secrets-action, before_script]
  script:
    - ${GUARD}
    - ./deploy.sh

flow-reference:
  stage: deploy
  extends: .secrets-action
  before_script: [!reference [.secrets-action, before_script], echo setup]
  script:
    - ${GUARD}
    - ./deploy.sh

replaced-before-script:
  stage: deploy
  extends: .secrets-action
  before_script: [echo setup]
  script:
    - ${GUARD}
    - ./deploy.sh

reference-pipeline-ready:
  stage: deploy
  extends: .secrets-action
  before_script:
    - !reference [.secrets-action, before_script]
  script:
    - ${GUARD}
    - ./deploy.sh

replaced-before-script-pipeline-ready:
  stage: deploy
  extends: .secrets-action
  before_script: [echo setup]
  script:
    - ${GUARD}
    - ./deploy.sh

replaced-before-script-cicd-ready:
  stage: deploy
  extends: .secrets-action
  before_script: [echo setup]
  script:
    - ${GUARD}
    - ./deploy.sh

exec-reference:
  stage: deploy
  extends: .secrets-action-exec
  before_script:
    - !reference [.secrets-action-exec, before_script]
    - echo setup
  script:
    - ${GUARD}
    - secrets_action_exec ./migrate.sh --apply

exec-replaced-before-script:
  stage: deploy
  extends: .secrets-action-exec
  before_script: [echo setup]
  script:
    - ${GUARD}
    - secrets_action_exec ./migrate.sh --apply

exec-replaced-before-script-pipeline-ready:
  stage: deploy
  extends: .secrets-action-exec
  before_script: [echo setup]
  script:
    - ${GUARD}
    - secrets_action_exec ./migrate.sh --apply

exec-replaced-before-script-unguarded:
  stage: deploy
  extends: .secrets-action-exec
  before_script: [echo setup]
  script:
    - secrets_action_exec ./migrate.sh --apply
    - echo after-exec
`;

let harness: BrokerHarness;
let project: GitlabProject;
const values = { db: canary('gitlab-db'), token: canary('gitlab-token') };

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.token);
  project = await GitlabProject.create(harness, `${await examplePipeline()}\n${JOBS}`, EXAMPLE_SCRIPTS);
});

afterAll(async () => {
  await harness?.close();
});

async function proof(job: string, what: string): Promise<string> {
  return readFile(join(project.dir, `proof-${job}-${what}`), 'utf8');
}

async function proofExists(job: string, what: string): Promise<boolean> {
  return access(join(project.dir, `proof-${job}-${what}`)).then(
    () => true,
    () => false,
  );
}

/** The lines the job's commands printed (gitlab-ci-local shows them as `<job> > line`). */
function printed(run: JobRun, job: string): string[] {
  const prefix = `${job} > `;
  return run.log
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length));
}

function expectNoLeaks(run: JobRun): void {
  expect(findLeaks(Object.values(values), { 'job log': run.log })).toEqual([]);
}

describe('GitLab component: a job with its own before_script', () => {
  it('the README, the component header and the example show the guard these jobs run', async () => {
    for (const file of ['README.md', 'templates/gitlab/template.yml', 'examples/gitlab/.gitlab-ci.yml']) {
      expect(await readFile(join(REPO_ROOT, file), 'utf8'), file).toContain(`- ${GUARD}\n`);
    }
  });

  it("the example's deploy-with-setup job: the component's lines by !reference, then its own, which see the secrets", async () => {
    const run = await project.runJob('deploy-with-setup');
    expect(run.log).toContain('json schema validated');
    expect(run.code, run.log).toBe(0);
    expect(await proof('deploy-with-setup', 'setup')).toBe(values.token);
    expect(await proof('deploy-with-setup', 'db')).toBe(values.db);
    expect(await proof('deploy-with-setup', 'token')).toBe(values.token);
    expectNoLeaks(run);
  });

  it('before_script: [!reference [.secrets-action, before_script], echo setup] fetches the secrets and runs echo setup', async () => {
    const run = await project.runJob('flow-reference');
    expect(run.code, run.log).toBe(0);
    expect(printed(run, 'flow-reference')).toEqual(expect.arrayContaining(['setup', 'deployed']));
    expect(await proof('flow-reference', 'db')).toBe(values.db);
    expect(await proof('flow-reference', 'token')).toBe(values.token);
    expectNoLeaks(run);
  });

  it("a pipeline's default before_script and the component's both run when the job references both", async () => {
    const run = await project.runJob('with-default-before-script');
    expect(run.code, run.log).toBe(0);
    expect(printed(run, 'with-default-before-script')).toEqual(
      expect.arrayContaining(['default-setup', 'deployed']),
    );
    expect(await proof('with-default-before-script', 'db')).toBe(values.db);
    expectNoLeaks(run);
  });

  it('a before_script without the reference fails the job at the guard, saying why and how to fix it', async () => {
    const run = await project.runJob('replaced-before-script');
    expect(run.code, run.log).not.toBe(0);
    expect(printed(run, 'replaced-before-script')).toContain('setup');
    expect(run.log).toContain(NOT_READY);
    // The rest of the script never ran.
    expect(run.log).not.toContain('deployed');
    expect(await proofExists('replaced-before-script', 'db')).toBe(false);
  });

  it('a SECRETS_ACTION_READY pipeline variable does not get a job whose fetch did not run past the guard', async () => {
    const job = 'replaced-before-script-pipeline-ready';
    const run = await project.runJob(job, { pipelineVariables: { SECRETS_ACTION_READY: 'true' } });
    expect(run.code, run.log).not.toBe(0);
    expect(printed(run, job)).toContain('setup');
    // The script stopped at the guard: deploy.sh was never started.
    expect(run.log).not.toContain('$ ./deploy.sh');
    expect(run.log).toContain(NOT_READY);
    expect(await proofExists(job, 'db')).toBe(false);
  });

  it('a SECRETS_ACTION_READY CI/CD variable does not get a job whose fetch did not run past the guard', async () => {
    const job = 'replaced-before-script-cicd-ready';
    const run = await project.runJob(job, { cicdVariables: { SECRETS_ACTION_READY: 'true' } });
    expect(run.code, run.log).not.toBe(0);
    // The script stopped at the guard: deploy.sh was never started.
    expect(run.log).not.toContain('$ ./deploy.sh');
    expect(run.log).toContain(NOT_READY);
    expect(await proofExists(job, 'db')).toBe(false);
  });

  it('with a SECRETS_ACTION_READY pipeline variable, a job whose fetch ran still passes the guard', async () => {
    const job = 'reference-pipeline-ready';
    const run = await project.runJob(job, { pipelineVariables: { SECRETS_ACTION_READY: 'true' } });
    expect(run.code, run.log).toBe(0);
    expect(printed(run, job)).toContain('deployed');
    expect(await proof(job, 'db')).toBe(values.db);
    expectNoLeaks(run);
  });

  it('.secrets-action-exec: a SECRETS_ACTION_READY pipeline variable does not get past the guard either', async () => {
    const job = 'exec-replaced-before-script-pipeline-ready';
    const run = await project.runJob(job, { pipelineVariables: { SECRETS_ACTION_READY: 'true' } });
    expect(run.code, run.log).not.toBe(0);
    expect(run.log).not.toContain('$ secrets_action_exec');
    expect(run.log).toContain(EXEC_NOT_READY);
  });

  it('.secrets-action-exec with !reference first gives the secrets to the command, redacted', async () => {
    const run = await project.runJob('exec-reference');
    expect(run.code, run.log).toBe(0);
    expect(printed(run, 'exec-reference')).toEqual(
      expect.arrayContaining(['setup', 'migrating with *** and ***', 'args: --apply']),
    );
    expectNoLeaks(run);
  });

  it('.secrets-action-exec without the reference fails at the guard, naming .secrets-action-exec', async () => {
    const run = await project.runJob('exec-replaced-before-script');
    expect(run.code, run.log).not.toBe(0);
    expect(run.log).toContain(EXEC_NOT_READY);
    expect(run.log).not.toContain('migrating with');
  });

  it('.secrets-action-exec without the reference or the guard still fails before the command or anything after it', async () => {
    const run = await project.runJob('exec-replaced-before-script-unguarded');
    expect(run.code, run.log).not.toBe(0);
    expect(run.log).toMatch(/secrets_action_exec: command not found/);
    expect(run.log).not.toContain('migrating with');
    expect(printed(run, 'exec-replaced-before-script-unguarded')).not.toContain('after-exec');
  });
});
