/**
 * What the bundled client costs as whole processes, beside `node -e 0`: the action's main step fetching 10
 * secrets (a successful run against a real local broker, issuer and token endpoint), its post step removing
 * the file it wrote, and secrets-fetch fetching the same 10 secrets. Each runs BENCH_RUNS (9) times;
 * prints the medians of CPU (user + system), wall time and peak RSS, and their ratios to `node -e 0`.
 *
 * BENCH_NODE names another Node.js binary to run the measured processes with (the bench itself stays on this one).
 * With VAULT_ACTION_DIST naming a checkout's dist/index.js of hashicorp/vault-action (v3.4.0 was measured), the
 * peer runs too, as the runner would run it (JWT login with the runner's ID token, 10 secrets), and is stopped
 * when its first request reaches a local stand-in for Vault: its cold start to its first request.
 *
 * The broker, issuer and token endpoint run in this process, so the figures are the client's alone. Run
 * `npm run build` first: this measures dist/ as it is.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BrokerHarness, TEST_AUDIENCE } from '../test/helpers/broker-harness.js';
import { REPO_ROOT } from '../test/helpers/child-process.js';
import {
  newRunnerDirectory,
  parseFileCommands,
  runnerEnvironment,
  type RunnerDirectory,
} from '../test/helpers/runner.js';
import { TokenEndpoint } from '../test/helpers/token-endpoint.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
/** The Node.js that runs the measured processes (BENCH_NODE, e.g. Node 24 as GitHub runs node24 actions). */
const MEASURED_NODE = process.env.BENCH_NODE ?? process.execPath;
const USAGE_PRELOAD = pathToFileURL(join(REPO_ROOT, 'bench/client-usage.mjs')).href;
const SECRET_NAMES = Array.from({ length: 10 }, (_, index) => `prod/api/BENCH_${index}`);

interface Sample {
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly peakRssKiB: number;
}

interface Scenario {
  readonly name: string;
  /** Prepares one run (outside the measurement) and returns the command, its environment and a check. */
  prepare(): Promise<{
    args: string[];
    env: NodeJS.ProcessEnv;
    cwd?: string;
    check: (code: number | null, stderr: string) => Promise<void>;
    /** Handed the process once it runs (to stop it at a moment of the scenario's choosing). */
    onStart?: (child: ChildProcess) => void;
  }>;
}

/**
 * Runs one Node.js process with bench/client-usage.mjs preloaded, which reports the process's own CPU time and
 * peak RSS at exit (finer than GNU time's hundredths of a second); the wall time is measured here.
 */
async function measure(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string | undefined,
  onStart?: (child: ChildProcess) => void,
): Promise<{ sample: Sample; code: number | null; stderr: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'client-bench-'));
  const usageFile = join(directory, 'usage.json');
  try {
    const started = performance.now();
    const child = spawn(MEASURED_NODE, ['--import', USAGE_PRELOAD, ...args], {
      env: { ...env, BENCH_USAGE_FILE: usageFile },
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    onStart?.(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const wallSeconds = (performance.now() - started) / 1000;
    const usage = JSON.parse(await readFile(usageFile, 'utf8')) as { cpuMicros: number; maxRssKiB: number };
    return {
      sample: { cpuSeconds: usage.cpuMicros / 1e6, wallSeconds, peakRssKiB: usage.maxRssKiB },
      code,
      stderr,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function actionEnvironment(
  harness: BrokerHarness,
  directory: RunnerDirectory,
  tokens: TokenEndpoint,
): NodeJS.ProcessEnv {
  return {
    ...runnerEnvironment(directory, tokens),
    'INPUT_BROKER-URL': harness.url,
    INPUT_AUDIENCE: TEST_AUDIENCE,
    // Nine variables and one ENV=@NAME file, so the post step has something to remove.
    INPUT_SECRETS: SECRET_NAMES.map((name, index) => (index === 0 ? `BENCH_FILE=@${name}` : name)).join('\n'),
  };
}

/**
 * hashicorp/vault-action fetching 10 secrets with the runner's ID token (method jwt), stopped by SIGTERM (which
 * the usage preload turns into a normal exit) when its first request reaches a local stand-in for Vault.
 */
async function vaultActionScenario(dist: string, tokens: TokenEndpoint): Promise<Scenario> {
  if (!existsSync(dist)) throw new Error(`VAULT_ACTION_DIST=${dist} does not exist`);
  let running: ChildProcess | undefined;
  let firstRequest: string | undefined;
  const vault = createServer((request) => {
    firstRequest = `${request.method} ${request.url}`;
    running?.kill('SIGTERM');
  });
  await new Promise<void>((resolve) => vault.listen(0, '127.0.0.1', resolve));
  vault.unref();
  const { port } = vault.address() as AddressInfo;
  return {
    name: 'vault-action to 1st request',
    prepare: async () => {
      const directory = await newRunnerDirectory();
      firstRequest = undefined;
      return {
        args: [dist],
        env: {
          ...runnerEnvironment(directory, tokens),
          BENCH_EXIT_ON_SIGTERM: '1',
          INPUT_URL: `http://127.0.0.1:${port}`,
          INPUT_METHOD: 'jwt',
          INPUT_ROLE: 'ci',
          INPUT_SECRETS: Array.from({ length: 10 }, (_, index) => `secret/data/ci KEY_${index}`).join(';\n'),
          INPUT_EXPORTENV: 'true',
          INPUT_JWTTTL: '3600',
          INPUT_SECRETENCODINGTYPE: 'utf8',
        },
        cwd: directory.workspace,
        onStart: (child) => (running = child),
        check: async (code, stderr) => {
          await failIfNot(
            code === 0 && firstRequest === 'POST /v1/auth/jwt/login',
            `vault-action did not reach its login request (exit ${code}, first request ${firstRequest})`,
            stderr,
          );
          await rm(directory.root, { recursive: true, force: true });
        },
      };
    },
  };
}

async function failIfNot(condition: boolean, what: string, stderr: string): Promise<void> {
  if (!condition) throw new Error(`${what}\n${stderr}`);
}

async function main(): Promise<void> {
  for (const bundle of ['dist/index.js', 'dist/post.js', 'dist/secrets-fetch.js'])
    if (!existsSync(join(REPO_ROOT, bundle)))
      throw new Error(`${bundle} is missing: run npm run build first`);

  const harness = await BrokerHarness.start();
  const tokens = await new TokenEndpoint(harness.github).start();
  try {
    for (const [index, name] of SECRET_NAMES.entries())
      await harness.setSecret(name, `bench-value-${index}-${'x'.repeat(40)}`);

    const scenarios: Scenario[] = [
      {
        name: 'node -e 0',
        prepare: async () => ({
          args: ['-e', '0'],
          env: { PATH: process.env.PATH },
          check: async (code, stderr) => failIfNot(code === 0, 'node -e 0 failed', stderr),
        }),
      },
      {
        name: 'action main (10 secrets)',
        prepare: async () => {
          const directory = await newRunnerDirectory();
          return {
            args: [join(REPO_ROOT, 'dist/index.js')],
            env: actionEnvironment(harness, directory, tokens),
            cwd: directory.workspace,
            check: async (code, stderr) => {
              const outputs = parseFileCommands(await readFile(directory.output, 'utf8'));
              await failIfNot(
                code === 0 && outputs.names === JSON.stringify(SECRET_NAMES),
                `the action run failed (exit ${code})`,
                stderr,
              );
              await rm(directory.root, { recursive: true, force: true });
            },
          };
        },
      },
      {
        name: 'action post (1 file)',
        prepare: async () => {
          const directory = await newRunnerDirectory();
          const env = actionEnvironment(harness, directory, tokens);
          const mainRun = await measure([join(REPO_ROOT, 'dist/index.js')], env, undefined);
          await failIfNot(mainRun.code === 0, 'the main step before the post step failed', mainRun.stderr);
          const postEnv: NodeJS.ProcessEnv = { ...runnerEnvironment(directory, tokens) };
          for (const [name, value] of Object.entries(
            parseFileCommands(await readFile(directory.state, 'utf8')),
          ))
            postEnv[`STATE_${name}`] = value;
          return {
            args: [join(REPO_ROOT, 'dist/post.js')],
            env: postEnv,
            cwd: directory.workspace,
            check: async (code, stderr) => {
              await failIfNot(
                code === 0 && (await readdir(directory.temp)).length === 0,
                `the post step failed or left files (exit ${code})`,
                stderr,
              );
              await rm(directory.root, { recursive: true, force: true });
            },
          };
        },
      },
      {
        name: 'secrets-fetch (10 secrets)',
        prepare: async () => {
          const directory = await newRunnerDirectory();
          const out = join(directory.workspace, 'secrets.env');
          return {
            args: [
              join(REPO_ROOT, 'dist/secrets-fetch.js'),
              '--broker',
              harness.url,
              '--audience',
              TEST_AUDIENCE,
              ...SECRET_NAMES.flatMap((name) => ['--secret', name]),
              '--out',
              out,
            ],
            env: runnerEnvironment(directory, tokens),
            cwd: directory.workspace,
            check: async (code, stderr) => {
              await failIfNot(
                code === 0 && (await readFile(out, 'utf8')).includes('bench-value-9'),
                `secrets-fetch failed (exit ${code})`,
                stderr,
              );
              await rm(directory.root, { recursive: true, force: true });
            },
          };
        },
      },
    ];

    const vaultAction = process.env.VAULT_ACTION_DIST;
    if (vaultAction !== undefined) scenarios.push(await vaultActionScenario(vaultAction, tokens));

    const results = new Map<string, Sample[]>();
    // One unmeasured round first: the broker fetches the issuer's keys and warms up.
    for (let round = -1; round < RUNS; round += 1) {
      for (const scenario of scenarios) {
        const { args, env, cwd, check, onStart } = await scenario.prepare();
        const { sample, code, stderr } = await measure(args, env, cwd, onStart);
        await check(code, stderr);
        if (round >= 0) results.set(scenario.name, [...(results.get(scenario.name) ?? []), sample]);
      }
    }

    const baseline = results.get('node -e 0')!;
    const baseCpu = median(baseline.map((sample) => sample.cpuSeconds));
    const baseWall = median(baseline.map((sample) => sample.wallSeconds));
    const baseRss = median(baseline.map((sample) => sample.peakRssKiB));
    const version = execFileSync(MEASURED_NODE, ['--version'], { encoding: 'utf8' }).trim();
    console.log(`Node ${version}, ${RUNS} runs each, medians (ratio to node -e 0):`);
    console.log(
      `${'process'.padEnd(28)} ${'CPU s'.padStart(14)} ${'wall s'.padStart(14)} ${'peak RSS MiB'.padStart(16)}`,
    );
    for (const [name, samples] of results) {
      const cpu = median(samples.map((sample) => sample.cpuSeconds));
      const wall = median(samples.map((sample) => sample.wallSeconds));
      const rss = median(samples.map((sample) => sample.peakRssKiB));
      const cell = (value: number, base: number, digits: number, width: number): string =>
        `${value.toFixed(digits)} (${(value / base).toFixed(2)}x)`.padStart(width);
      console.log(
        `${name.padEnd(28)} ${cell(cpu, baseCpu, 3, 14)} ${cell(wall, baseWall, 3, 14)} ${cell(rss / 1024, baseRss / 1024, 1, 16)}`,
      );
    }
  } finally {
    await tokens.stop();
    await harness.close();
  }
}

await main();
