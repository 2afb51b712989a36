/**
 * A throwaway GitLab project that includes this repository's component from its own commit (GitLab's way to
 * test a component), run by gitlab-ci-local (schema validation on, shell executor) against the real broker,
 * with GitLab-shaped ID tokens minted by the harness's issuer and passed as the id_tokens variables.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TEST_AUDIENCE, type BrokerHarness } from './broker-harness.js';
import { REPO_ROOT, run } from './child-process.js';
import { gitlabClaims } from './oidc-issuer.js';

export interface JobRun {
  readonly code: number | null;
  /** gitlab-ci-local's stdout and stderr and the job's saved log. */
  readonly log: string;
}

/** examples/gitlab/.gitlab-ci.yml with the component taken from the project's own commit. */
export async function examplePipeline(): Promise<string> {
  const example = await readFile(join(REPO_ROOT, 'examples/gitlab/.gitlab-ci.yml'), 'utf8');
  return example.replace(/\/org\/secrets-action\/gitlab@\S+/, '/$CI_PROJECT_PATH/gitlab@$CI_COMMIT_SHA');
}

/**
 * The scripts examples/gitlab/.gitlab-ci.yml calls. Each proof file is named after the job that wrote it and
 * holds a value the script saw, so a test can tell which job got the secrets and which never ran the script.
 */
export const EXAMPLE_SCRIPTS: Readonly<Record<string, string>> = {
  'setup.sh': '#!/bin/sh\nset -eu\nprintf %s "$API_TOKEN" > "proof-$CI_JOB_NAME-setup"\n',
  'deploy.sh':
    '#!/bin/sh\nset -eu\nprintf %s "$DB_PASSWORD" > "proof-$CI_JOB_NAME-db"\nprintf %s "$API_TOKEN" > "proof-$CI_JOB_NAME-token"\necho "deployed"\n',
  'migrate.sh': '#!/bin/sh\necho "migrating with $DB_PASSWORD and $API_TOKEN" >&2\necho "args: $*"\n',
};

/** The SHA-256 (hex) of the secrets-fetch.js the project holds, the component's fetch_sha256 input. */
export async function secretsFetchSha256(): Promise<string> {
  return createHash('sha256')
    .update(await readFile(join(REPO_ROOT, 'dist/secrets-fetch.js')))
    .digest('hex');
}

export interface RunJobOptions {
  readonly pipelineVariables?: Readonly<Record<string, string>>;
  readonly cicdVariables?: Readonly<Record<string, string>>;
  /**
   * Component inputs over the defaults: the harness's broker, fetch_url `dist/secrets-fetch.js` (the project's
   * own copy, as a component's own pipeline tests it) and fetch_sha256 of that file.
   */
  readonly inputs?: Readonly<Record<string, string>>;
}

export class GitlabProject {
  private constructor(
    readonly dir: string,
    private readonly harness: BrokerHarness,
  ) {}

  /** A git project named org/secrets-action holding the component, dist/secrets-fetch.js and `files`. */
  static async create(
    harness: BrokerHarness,
    pipeline: string,
    files: Readonly<Record<string, string>> = {},
  ): Promise<GitlabProject> {
    const dir = await mkdtemp(join(tmpdir(), 'gitlab-project-'));
    await mkdir(join(dir, 'templates/gitlab'), { recursive: true });
    await mkdir(join(dir, 'dist'));
    await copyFile(
      join(REPO_ROOT, 'templates/gitlab/template.yml'),
      join(dir, 'templates/gitlab/template.yml'),
    );
    await copyFile(join(REPO_ROOT, 'dist/secrets-fetch.js'), join(dir, 'dist/secrets-fetch.js'));
    await writeFile(join(dir, '.gitlab-ci.yml'), pipeline);
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
    }
    const project = new GitlabProject(dir, harness);
    await project.git('init', '-q', '-b', 'main');
    // The remote makes it org/secrets-action, so the component include resolves to this project.
    await project.git('remote', 'add', 'origin', 'git@gitlab.example.com:org/secrets-action.git');
    await project.git('add', '-A');
    await project.git('commit', '-qm', 'pipeline');
    return project;
  }

  /**
   * Runs one job on a protected ref, with the component's inputs pointing at the harness's broker.
   * `pipelineVariables` are passed as pipeline variables (`--variable`), `cicdVariables` as the project's
   * CI/CD variables (a `--variables-file`): both outrank the variables of the job's YAML, as in GitLab.
   */
  async runJob(job: string, options: RunJobOptions = {}): Promise<JobRun> {
    const tokens = await Promise.all(
      [1, 2, 3].map(() => this.harness.gitlab.token(gitlabClaims(this.harness.gitlab.url, TEST_AUDIENCE))),
    );
    const variablesFile: string[] = [];
    if (options.cicdVariables) {
      // gitlab-ci-local reads --variables-file relative to the project, even when given an absolute path.
      const file = `.cicd-variables-${job}.yml`;
      const yaml = Object.entries(options.cicdVariables).map(
        ([name, value]) => `${name}: ${JSON.stringify(value)}\n`,
      );
      await writeFile(join(this.dir, file), yaml.join(''));
      variablesFile.push('--variables-file', file);
    }
    const inputs = {
      broker_url: this.harness.url,
      audience: TEST_AUDIENCE,
      fetch_url: 'dist/secrets-fetch.js',
      fetch_sha256: await secretsFetchSha256(),
      ...options.inputs,
    };
    const result = await run(
      join(REPO_ROOT, 'node_modules/.bin/gitlab-ci-local'),
      [
        '--json-schema-validation',
        '--force-shell-executor',
        '--ignore-predefined-vars',
        'CI_COMMIT_REF_PROTECTED',
        '--variable',
        'CI_COMMIT_REF_PROTECTED=true',
        ...Object.entries(inputs).flatMap(([name, value]) => ['--input', `${name}=${value}`]),
        ...tokens.flatMap((token, index) => ['--variable', `SECRETS_ACTION_ID_TOKEN_${index + 1}=${token}`]),
        ...Object.entries(options.pipelineVariables ?? {}).flatMap(([name, value]) => [
          '--variable',
          `${name}=${value}`,
        ]),
        ...variablesFile,
        job,
      ],
      { cwd: this.dir },
    );
    const saved = await readFile(join(this.dir, '.gitlab-ci-local/output', `${job}.log`), 'utf8').catch(
      () => '',
    );
    return { code: result.code, log: [result.stdout, result.stderr, saved].join('\n') };
  }

  /** The commit the pipeline runs on; gitlab-ci-local gives it as `component.version` of a local component. */
  async commitSha(): Promise<string> {
    return (await this.git('rev-parse', 'HEAD')).trim();
  }

  private async git(...args: string[]): Promise<string> {
    const result = await run('git', ['-c', 'user.email=ci@example.com', '-c', 'user.name=ci', ...args], {
      cwd: this.dir,
    });
    if (result.code !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }
}
