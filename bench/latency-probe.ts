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
import { Agent, get, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sodium from 'sodium-native';
import { LocalIssuer, localWorkloadClaims } from '../src/dev/local-issuer.js';
import { BROKER_CLI, REPO_ROOT } from '../test/helpers/child-process.js';
import { freePort } from '../test/helpers/free-port.js';

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
// Below the broker's limit of connections per client address (256), past which it refuses them.
let agent = new Agent({ keepAlive: true, maxSockets: 200 });

/** Fresh connections for a new phase: one kept alive over a pause may be closed by the broker as it is reused. */
function renewConnections(): void {
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: 200 });
}

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

/** One exchange; resolves with its HTTP status once the whole response has arrived. */
function exchange(url: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${url}/v1/exchange`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        response.on('data', () => {});
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function closedLoop(url: string, tokens: string[], body: string): Promise<number> {
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: PEAK_IN_FLIGHT }, async () => {
      while (next < tokens.length) {
        if ((await exchange(url, tokens[next++] as string, body)) !== 200) failed += 1;
      }
    }),
  );
  if (failed > 0) throw new Error(`${failed} exchanges failed in the closed loop`);
  return tokens.length / ((performance.now() - started) / 1000);
}

interface OpenLoopResult {
  latencies: number[];
  failed: number;
}

/** Poisson arrivals at `rate`: each request leaves at its scheduled time (or as soon after as this loop runs). */
async function openLoop(url: string, tokens: string[], body: string, rate: number): Promise<OpenLoopResult> {
  const schedule: number[] = [];
  let at = 0;
  for (let index = 0; index < tokens.length; index += 1) {
    at += -Math.log(1 - Math.random()) / rate;
    schedule.push(at * 1000);
  }
  const latencies: number[] = [];
  let failed = 0;
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - started;
      while (next < schedule.length && (schedule[next] as number) <= now) {
        const scheduled = started + (schedule[next] as number);
        pending.push(
          exchange(url, tokens[next] as string, body).then(
            (status) => {
              if (status === 200) latencies.push(performance.now() - scheduled);
              else failed += 1;
            },
            () => {
              failed += 1;
            },
          ),
        );
        next += 1;
      }
      if (next >= schedule.length) return resolve();
      const wait = (schedule[next] as number) - (performance.now() - started);
      if (wait > 1) setTimeout(tick, Math.max(0, wait - 1));
      else setImmediate(tick);
    };
    tick();
  });
  await Promise.all(pending);
  return { latencies, failed };
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

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function mintTokens(issuer: LocalIssuer, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => issuer.mint(AUDIENCE)));
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
      await closedLoop(broker.url, await mintTokens(issuer, 1000), bodies[index] as string);
      peaks.push(
        await closedLoop(broker.url, await mintTokens(issuer, PEAK_REQUESTS), bodies[index] as string),
      );
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
      const tokens = await mintTokens(issuer, SEQUENTIAL);
      const latencies: number[] = [];
      for (const token of tokens) {
        const started = performance.now();
        if ((await exchange(broker.url, token, bodies[index] as string)) !== 200)
          throw new Error('an exchange failed');
        latencies.push(performance.now() - started);
      }
      const sorted = latencies.sort((a, b) => a - b);
      console.log(
        `  [${index}] one at a time: p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${percentile(sorted, 100).toFixed(2)} ms`,
      );
    }
    console.log(
      'round  build   sent   p50 ms   p99 ms   p99.9 ms   max ms   failed   broker loop max ms   probe loop max ms   CPU ms/exchange: loop, process   within 5, 10 ms by the broker',
    );
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const [index, broker] of brokers.entries()) {
        const tokens = await mintTokens(issuer, Math.round((rates[index] as number) * SECONDS));
        renewConnections();
        const before = await brokerFigures(broker.url);
        const own = monitorEventLoopDelay({ resolution: 1 });
        own.enable();
        const cpuBefore = await cpuSeconds(broker.child.pid as number);
        const { latencies, failed } = await openLoop(
          broker.url,
          tokens,
          bodies[index] as string,
          rates[index] as number,
        );
        own.disable();
        const cpuAfter = await cpuSeconds(broker.child.pid as number);
        const after = await brokerFigures(broker.url);
        const share = (key: 'within5' | 'within10') =>
          ((100 * (after[key] - before[key])) / (after.allowed - before.allowed)).toFixed(2);
        const perExchange = (seconds: number) => ((seconds * 1000) / tokens.length).toFixed(2);
        const sorted = latencies.sort((a, b) => a - b);
        const columns = [
          String(round).padStart(5),
          `[${index}]`.padStart(6),
          String(tokens.length).padStart(6),
          ...[50, 99, 99.9, 100].map((p) =>
            percentile(sorted, p)
              .toFixed(2)
              .padStart(p === 99.9 ? 10 : 8),
          ),
          String(failed).padStart(8),
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
    agent.destroy();
  }
}

await main();
