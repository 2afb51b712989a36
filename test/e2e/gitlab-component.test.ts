/**
 * The GitLab component, run by gitlab-ci-local (schema validation on, shell executor) against the real broker,
 * with GitLab-shaped ID tokens minted by oauth2-mock-server and passed as the id_tokens variables.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT, run } from '../helpers/child-process.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';

let harness: BrokerHarness;
let project: string;
const values = { db: canary('gitlab-db'), token: canary('gitlab-token') };

async function git(...args: string[]): Promise<void> {
  const result = await run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=ci', ...args], {
    cwd: project,
  });
  if (result.code !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
}

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.token);

  // A project whose git remote makes it org/secrets-action, so the component include resolves locally.
  project = await mkdtemp(join(tmpdir(), 'gitlab-project-'));
  await mkdir(join(project, 'templates/gitlab'), { recursive: true });
  await mkdir(join(project, 'dist'));
  await copyFile(
    join(REPO_ROOT, 'templates/gitlab/template.yml'),
    join(project, 'templates/gitlab/template.yml'),
  );
  await copyFile(join(REPO_ROOT, 'dist/secrets-fetch.js'), join(project, 'dist/secrets-fetch.js'));
  const example = await readFile(join(REPO_ROOT, 'examples/gitlab/.gitlab-ci.yml'), 'utf8');
  // The same pipeline, with the component taken from this commit of this project (GitLab's way to test a component).
  await writeFile(
    join(project, '.gitlab-ci.yml'),
    example.replace('/org/secrets-action/gitlab@1', '/$CI_PROJECT_PATH/gitlab@$CI_COMMIT_SHA'),
  );
  await writeFile(
    join(project, 'deploy.sh'),
    '#!/bin/sh\nset -eu\nprintf %s "$DB_PASSWORD" > proof-db\nprintf %s "$API_TOKEN" > proof-token\necho "deployed"\n',
    { mode: 0o755 },
  );
  await writeFile(
    join(project, 'migrate.sh'),
    '#!/bin/sh\necho "migrating with $DB_PASSWORD and $API_TOKEN" >&2\necho "args: $*"\n',
    { mode: 0o755 },
  );
  await run('git', ['init', '-q', '-b', 'main'], { cwd: project });
  await git('remote', 'add', 'origin', 'git@gitlab.example.com:org/secrets-action.git');
  await git('add', '-A');
  await git('commit', '-qm', 'pipeline');
});

afterAll(async () => {
  await harness?.close();
});

async function gitlabCiLocal(job: string): Promise<{ code: number | null; log: string }> {
  const tokens = await Promise.all(
    [1, 2, 3].map(() => harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE))),
  );
  const result = await run(
    join(REPO_ROOT, 'node_modules/.bin/gitlab-ci-local'),
    [
      '--json-schema-validation',
      '--force-shell-executor',
      '--ignore-predefined-vars',
      'CI_COMMIT_REF_PROTECTED',
      '--variable',
      'CI_COMMIT_REF_PROTECTED=true',
      '--input',
      `broker_url=${harness.url}`,
      '--input',
      `audience=${TEST_AUDIENCE}`,
      '--input',
      'fetch_url=dist/secrets-fetch.js',
      ...tokens.flatMap((token, index) => ['--variable', `SECRETS_ACTION_ID_TOKEN_${index + 1}=${token}`]),
      job,
    ],
    { cwd: project },
  );
  const outputDir = join(project, '.gitlab-ci-local/output');
  const files = await readdir(outputDir).catch(() => []);
  const saved = await Promise.all(files.map((file) => readFile(join(outputDir, file), 'utf8')));
  return { code: result.code, log: [result.stdout, result.stderr, ...saved].join('\n') };
}

describe('GitLab component', () => {
  it("validates against GitLab's schema and exports the secrets into the job's shell without logging them", async () => {
    const { code, log } = await gitlabCiLocal('deploy');
    expect(log).toContain('json schema validated');
    expect(code, log).toBe(0);
    expect(log).toContain('deployed');
    // The shell executor runs the job in the project directory itself.
    expect(await readFile(join(project, 'proof-db'), 'utf8')).toBe(values.db);
    expect(await readFile(join(project, 'proof-token'), 'utf8')).toBe(values.token);
    expect(findLeaks(Object.values(values), { 'job log': log })).toEqual([]);
  });

  it('exec gives the secrets to one command and redacts them from its output', async () => {
    const { code, log } = await gitlabCiLocal('migrate');
    expect(code, log).toBe(0);
    expect(log).toContain('migrating with *** and ***');
    expect(log).toContain('args: --apply');
    expect(findLeaks(Object.values(values), { 'job log': log })).toEqual([]);
  });
});
