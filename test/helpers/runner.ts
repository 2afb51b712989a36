/** Runs the bundled action as the GitHub runner does: INPUT_* variables and the runner's file commands. */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, run } from './child-process.js';
import type { TokenEndpoint } from './token-endpoint.js';

/**
 * A file of the bundles the end-to-end tests run: dist/ of the repository, or of SECRETS_ACTION_TEST_DIST when
 * set (a bundle built elsewhere, to test sources without touching the committed dist/).
 */
export function distFile(name: string): string {
  return join(process.env.SECRETS_ACTION_TEST_DIST || join(REPO_ROOT, 'dist'), name);
}

export interface RunnerDirectory {
  readonly root: string;
  readonly temp: string;
  readonly workspace: string;
  readonly env: string;
  readonly output: string;
  readonly state: string;
  readonly summary: string;
}

export async function newRunnerDirectory(): Promise<RunnerDirectory> {
  const root = await mkdtemp(join(tmpdir(), 'runner-'));
  const directory = {
    root,
    temp: join(root, 'temp'),
    workspace: join(root, 'workspace'),
    env: join(root, 'github_env'),
    output: join(root, 'github_output'),
    state: join(root, 'github_state'),
    summary: join(root, 'step_summary'),
  };
  await mkdir(directory.temp);
  await mkdir(directory.workspace);
  for (const file of [directory.env, directory.output, directory.state, directory.summary])
    await writeFile(file, '');
  return directory;
}

/** Parses a file-command file: `name=value` lines and `name<<DELIMITER` blocks. */
export function parseFileCommands(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index] as string;
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc !== null) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const end = lines.indexOf(delimiter, index + 1);
      if (end === -1) throw new Error(`unterminated ${name}<<${delimiter}`);
      result[name] = lines.slice(index + 1, end).join('\n');
      index = end;
      continue;
    }
    const equals = line.indexOf('=');
    result[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return result;
}

export interface StepResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly env: Record<string, string>;
  readonly outputs: Record<string, string>;
  readonly state: Record<string, string>;
  readonly summary: string;
}

export interface StepOptions {
  readonly inputs: Record<string, string>;
  readonly tokenEndpoint?: TokenEndpoint;
  readonly environment?: Record<string, string>;
  /** The Node binary that runs the step (test/helpers/node-binaries.ts); the one running the tests by default. */
  readonly node?: string;
}

/** The variables a GitHub runner gives a step: its files in `directory`, and the ID token endpoint if any. */
export function runnerEnvironment(directory: RunnerDirectory, tokens?: TokenEndpoint): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    RUNNER_TEMP: directory.temp,
    GITHUB_WORKSPACE: directory.workspace,
    GITHUB_ENV: directory.env,
    GITHUB_OUTPUT: directory.output,
    GITHUB_STATE: directory.state,
    GITHUB_STEP_SUMMARY: directory.summary,
    ...(tokens === undefined
      ? {}
      : { ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken }),
  };
}

/** Runs dist/index.js (main) or dist/post.js (post, with the state the main step saved) in `directory`. */
export async function runStep(
  step: 'main' | 'post',
  directory: RunnerDirectory,
  options: StepOptions,
): Promise<StepResult> {
  const environment: NodeJS.ProcessEnv = {
    ...runnerEnvironment(directory, options.tokenEndpoint),
    ...options.environment,
  };
  for (const [name, value] of Object.entries(options.inputs))
    environment[`INPUT_${name.toUpperCase()}`] = value;
  if (step === 'post') {
    for (const [name, value] of Object.entries(parseFileCommands(await readFile(directory.state, 'utf8')))) {
      environment[`STATE_${name}`] = value;
    }
  }
  const script = distFile(step === 'main' ? 'index.js' : 'post.js');
  const result = await run(options.node ?? process.execPath, [script], {
    env: environment,
    cwd: directory.workspace,
  });
  return {
    ...result,
    env: parseFileCommands(await readFile(directory.env, 'utf8')),
    outputs: parseFileCommands(await readFile(directory.output, 'utf8')),
    state: parseFileCommands(await readFile(directory.state, 'utf8')),
    summary: await readFile(directory.summary, 'utf8'),
  };
}
