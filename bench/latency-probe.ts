/**
 * Open-loop latency of POST /v1/exchange on one broker replica on SQLite: first the peak rate (closed loop, 16
 * requests in flight), then PROBE_SEQUENTIAL (500) exchanges one at a time (the latency without load), then
 * PROBE_ROUNDS (3) rounds of PROBE_SECONDS (20) each of Poisson arrivals at PROBE_FRACTION (0.5) of the peak, or
 * at PROBE_RATE exchanges/s. Latency counts from each request's scheduled send time, so a stalled broker (or
 * load generator) is charged for every request that should have left meanwhile. Per round: p50/p99/p99.9/max;
 * the broker's largest event-loop delay (secrets_broker_nodejs_eventloop_lag_max_seconds, which /metrics
 * resets on every scrape) beside this process's own; the CPU time per exchange of the broker's main thread (the
 * event loop) and of its whole process (Linux /proc); and the share of exchanges the broker itself answered
 * within 5 and 10 ms (its duration histogram), which tells its time from the load generator's.
 *
 * PROBE_SECRETS (10) secrets per exchange. The broker runs from src/ through tsx, so it needs no build.
 * PROBE_VARIANTS compares builds under the same conditions: a comma-separated list of checkouts (each with
 * src/ and node_modules/, e.g. an unpacked `git archive` of the commit before a change), each optionally
 * followed by Node options for its broker after a space (`.,. --max-semi-space-size=64`); their brokers run side
 * by side and take turns, one round each, every one at its own fraction of its own peak (or all at PROBE_RATE).
 * Timing figures on a shared machine are indicative: compare variants of one run, over several rounds.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sodium from 'sodium-native';
import { LocalIssuer, localWorkloadClaims } from '../src/dev/local-issuer.js';
import { BROKER_CLI, REPO_ROOT } from '../test/helpers/child-process.js';
import { freePort } from '../test/helpers/free-port.js';
import { closedLoop, openLoop, quantile, sequentialLatencies, type Job, type Target } from './load-driver.js';

const AUDIENCE = 'https://secrets.probe.example';
const SECRETS = Number(process.env.PROBE_SECRETS ?? 10);
const SECONDS = Number(process.env.PROBE_SECONDS ?? 20);
const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 3);
const FRACTION = Number(process.env.PROBE_FRACTION ?? 0.5);
/** Exchanges sent one at a time (each after the previous answer) before the rounds, for the unloaded latency. */
const SEQUENTIAL = Number(process.env.PROBE_SEQUENTIAL ?? 500);
const PEAK_REQUESTS = 3000;
const PEAK_IN_FLIGHT = 16;
const masterKeyHex = randomBytes(32).toString('hex');
const adminToken = randomBytes(24).toString('hex');
const recipient = (() => {
  const publicKey = Buffer.alloc(32);
  sodium.crypto_box_keypair(publicKey, Buffer.alloc(32));
  return publicKey.toString('base64');
})();
interface Broker {
  /** The checkout and Node options it was started with. */
  readonly variant: string;
  readonly child: ChildProcess;
  readonly url: string;
}

/** `variant`: a checkout, optionally followed by Node options for its broker after a space. */
async function startBroker(variant: string, policyFile: string, dataDir: string): Promise<Broker> {
  const [root = REPO_ROOT, ...nodeOptions] = variant.split(' ');
  const port = await freePort();
  const log = openSync(`${dataDir}.log`, 'w');
  const cli = BROKER_CLI.map((argument) => argument.replace(REPO_ROOT, `${root.replace(/\/$/, '')}/`));
  const child = spawn(
    'node',
    [
      ...(process.env.PROBE_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ...nodeOptions,
      ...cli,
      'serve',
      '--policy',
      policyFile,
      '--data-dir',
      dataDir,
      '--port',
      String(port),
    ],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        SECRETS_BROKER_MASTER_KEY: masterKeyHex,
        SECRETS_BROKER_BOOTSTRAP_TOKEN: adminToken,
        ...(process.env.PROBE_BROKER_ENV === undefined ? {} : JSON.parse(process.env.PROBE_BROKER_ENV)),
      },
      stdio: ['ignore', log, log],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    if ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok) return { variant, child, url };
    if (attempt > 300 || child.exitCode !== null)
      throw new Error(`the broker did not start; see ${dataDir}.log`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function seed(url: string): Promise<string[]> {
  const names = Array.from({ length: SECRETS }, (_, index) => `probe/SECRET_${index}`);
  for (const name of names) {
    const response = await fetch(`${url}/v1/admin/secrets/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: randomBytes(24).toString('base64') }),
    });
    if (response.status !== 201) throw new Error(`seeding ${name}: ${response.status}`);
  }
  return names;
}

/** CPU seconds (user + system) of the broker's main thread and of the whole process so far (Linux /proc). */
async function cpuSeconds(pid: number): Promise<{ main: number; all: number }> {
  const read = async (path: string) => {
    const fields = (await readFile(path, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  return { main: await read(`/proc/${pid}/task/${pid}/stat`), all: await read(`/proc/${pid}/stat`) };
}

interface BrokerFigures {
  /** The event loop's largest delay since the previous scrape (which this scrape resets). */
  readonly loopMaxMs: number;
  /** Allowed exchanges answered within 5 ms and within 10 ms by the broker's own clock, so far. */
  readonly within5: number;
  readonly within10: number;
  readonly allowed: number;
}

async function brokerFigures(url: string): Promise<BrokerFigures> {
  // A connection of its own: a kept-alive one may be closed by the broker just as it is reused.
  const text = await new Promise<string>((resolve, reject) => {
    get(`${url}/metrics`, { agent: false }, (response) => {
      let collected = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (collected += chunk));
      response.on('end', () => resolve(collected));
      response.on('error', reject);
    }).on('error', reject);
  });
  const loop = /^secrets_broker_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  const bucket = (le: string) =>
    Number(
      new RegExp(
        `^secrets_broker_exchange_duration_seconds_bucket\\{le="${le}",outcome="allowed"\\} (\\S+)$`,
        'm',
      ).exec(text)?.[1] ?? 0,
    );
  return {
    loopMaxMs: loop === null ? NaN : Number(loop[1]) * 1000,
    within5: bucket('0.005'),
    within10: bucket('0.01'),
    allowed: Number(
      /^secrets_broker_exchange_duration_seconds_count\{outcome="allowed"\} (\S+)$/m.exec(text)?.[1] ?? 0,
    ),
  };
}

/** `count` exchanges, each with a fresh token, all asking for the same secrets. */
async function mintJobs(issuer: LocalIssuer, count: number, body: string): Promise<Job[]> {
  const tokens = await Promise.all(Array.from({ length: count }, () => issuer.mint(AUDIENCE)));
  return tokens.map((token) => ({ token, body }));
}

function targetOf(broker: Broker): Target {
  return { host: '127.0.0.1', port: Number(new URL(broker.url).port), transport: 'keep-alive' };
}

/** Exchanges a second over a closed loop of all `jobs`; every one must succeed. */
async function peakRate(broker: Broker, jobs: readonly Job[]): Promise<number> {
  const { ok, errors, seconds } = await closedLoop([targetOf(broker)], jobs, PEAK_IN_FLIGHT);
  if (errors > 0) throw new Error(`${errors} exchanges failed in the closed loop`);
  return ok / seconds;
}

async function main(): Promise<void> {
  const issuer = new LocalIssuer(localWorkloadClaims({}));
  await issuer.start('127.0.0.1', 0);
  const work = await mkdtemp(join(tmpdir(), 'latency-probe-'));
  const policyFile = join(work, 'policy.yaml');
  await writeFile(
    policyFile,
    `version: 1\naudience: ${AUDIENCE}\nissuers:\n  local:\n    url: ${issuer.url}\nrules:\n  - name: probe\n    issuer: local\n    claims:\n      repository: acme/demo\n    secrets: ["probe/**"]\nlimits:\n  per_source_ip: { rate: "1000000", burst: "1000000" }\n  per_workload: { rate: "1000000", burst: "1000000" }\n`,
  );
  const variants = (process.env.PROBE_VARIANTS ?? REPO_ROOT).split(',');
  const brokers: Broker[] = [];
  try {
    for (const [index, variant] of variants.entries())
      brokers.push(await startBroker(variant, policyFile, join(work, `data-${index}`)));
    const bodies = await Promise.all(
      brokers.map(async (broker) => JSON.stringify({ recipient, secrets: await seed(broker.url) })),
    );
    const peaks: number[] = [];
    for (const [index, broker] of brokers.entries()) {
      await peakRate(broker, await mintJobs(issuer, 1000, bodies[index] as string));
      peaks.push(await peakRate(broker, await mintJobs(issuer, PEAK_REQUESTS, bodies[index] as string)));
    }
    console.log(
      `latency probe: ${cpus().length} cores, Node ${process.version}, one replica, ${SECRETS} secrets, ${SECONDS} s a round`,
    );
    const rates = peaks.map((peak) =>
      process.env.PROBE_RATE === undefined ? peak * FRACTION : Number(process.env.PROBE_RATE),
    );
    for (const [index, broker] of brokers.entries()) {
      console.log(
        `  [${index}] ${broker.variant}: peak ${(peaks[index] as number).toFixed(0)}/s (closed loop, ${PEAK_IN_FLIGHT} in flight), open loop at ${(rates[index] as number).toFixed(0)}/s`,
      );
    }
    for (const [index, broker] of brokers.entries()) {
      const sorted = await sequentialLatencies(
        targetOf(broker),
        await mintJobs(issuer, SEQUENTIAL, bodies[index] as string),
      );
      console.log(
        `  [${index}] one at a time: p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms, max ${quantile(sorted, 1).toFixed(2)} ms`,
      );
    }
    console.log(
      'round  build   sent   p50 ms   p99 ms   p99.9 ms   max ms   failed   broker loop max ms   probe loop max ms   CPU ms/exchange: loop, process   within 5, 10 ms by the broker',
    );
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const [index, broker] of brokers.entries()) {
        const jobs = await mintJobs(
          issuer,
          Math.round((rates[index] as number) * SECONDS),
          bodies[index] as string,
        );
        const before = await brokerFigures(broker.url);
        const own = monitorEventLoopDelay({ resolution: 1 });
        own.enable();
        const cpuBefore = await cpuSeconds(broker.child.pid as number);
        const { latencies, errors } = await openLoop([targetOf(broker)], jobs, rates[index] as number);
        own.disable();
        const cpuAfter = await cpuSeconds(broker.child.pid as number);
        const after = await brokerFigures(broker.url);
        const share = (key: 'within5' | 'within10') =>
          ((100 * (after[key] - before[key])) / (after.allowed - before.allowed)).toFixed(2);
        const perExchange = (seconds: number) => ((seconds * 1000) / jobs.length).toFixed(2);
        const columns = [
          String(round).padStart(5),
          `[${index}]`.padStart(6),
          String(jobs.length).padStart(6),
          ...[0.5, 0.99, 0.999, 1].map((q) =>
            quantile(latencies, q)
              .toFixed(2)
              .padStart(q === 0.999 ? 10 : 8),
          ),
          String(errors).padStart(8),
          after.loopMaxMs.toFixed(2).padStart(20),
          (own.max / 1e6).toFixed(2).padStart(19),
          `${perExchange(cpuAfter.main - cpuBefore.main)}, ${perExchange(cpuAfter.all - cpuBefore.all)}`.padStart(
            32,
          ),
          `${share('within5')}%, ${share('within10')}%`.padStart(29),
        ];
        console.log(columns.join(' '));
      }
    }
  } finally {
    for (const broker of brokers) {
      broker.child.kill('SIGTERM');
      await new Promise((resolve) => broker.child.once('exit', resolve));
    }
    await issuer.stop();
  }
}

await main();
