/**
 * npm run bench: POST /v1/exchange over loopback against broker replicas, on a realistic workload
 * (workload.ts), with the crypto floor of the same work measured in the same run (crypto-floor.ts). For each
 * setup and for 1 and 10 secrets:
 *
 * 1. Peak: a closed loop (IN_FLIGHT exchanges in flight per replica) for about PEAK_SECONDS, ROUNDS times,
 *    each round between two measurements of the floor (this VM's speed drifts with its neighbours); the round
 *    with the median ratio to the node:crypto floor is printed, with the range over the rounds.
 * 2. Latency (setups with openLoop): an open loop at half that peak (Poisson arrivals, each exchange sent at
 *    its scheduled time and timed from it: no coordinated omission), printing p50/p99/p99.9 and the rate
 *    achieved.
 *
 * Setups: SQLite with one replica over keep-alive HTTP; the same with a new TLS connection for every exchange
 * (what CI jobs do); SQLite with two replicas sharing the file; PostgreSQL 15 with its default durability and
 * two replicas. The load generator runs in this process, on the same cores as the brokers and PostgreSQL.
 *
 * BENCH_QUICK=1 runs small counts (a minute or two); BENCH_ROUNDS (3; quick 1), BENCH_OPEN_SECONDS (20; quick
 * 5), BENCH_STORES=sqlite or postgres, BENCH_JSON=FILE for the figures as JSON (default: in the temp
 * directory).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestIssuer } from '../test/helpers/oidc-issuer.js';
import { PostgresCluster } from '../test/helpers/postgres.js';
import {
  cpuFigures,
  printGoals,
  printLatencies,
  printPeaks,
  type Goals,
  type LatencyFigures,
  type PeakFigures,
} from './bench-report.js';
import { startReplicas, stopReplicas, type Replica } from './broker-processes.js';
import { selfSignedCertificate } from '../test/helpers/tls-certificate.js';
import { peakRssMb, startCpuMeter } from './cpu-meter.js';
import { FLOOR_THREADS, floorMeasurer, type FloorRates } from './crypto-floor.js';
import { closedLoop, openLoop, quantile, type Target, type Transport } from './load-driver.js';
import { size, Workload, type BenchIssuer } from './workload.js';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const OPEN_SECONDS = Number(process.env.BENCH_OPEN_SECONDS ?? (QUICK ? 5 : 20));
const REPOSITORIES = QUICK ? 50 : 200;
/** A peak round sends as many exchanges as the warm-up's rate gets through in this many seconds. */
const PEAK_SECONDS = QUICK ? 1.5 : 5;
const WARM_UP_EXCHANGES = QUICK ? 200 : 800;
/** Per floor thread and measurement: about a second each on the 2-core development VM. */
const FLOOR_ITERATIONS: Readonly<Record<number, number>> = QUICK ? { 1: 800, 10: 150 } : { 1: 4000, 10: 500 };
const SECRET_COUNTS = [1, 10] as const;
const IN_FLIGHT = 16;
const OPEN_LOOP_SHARE = 0.5;
const AUDIENCE = 'https://secrets.bench.example';
const GOALS: Goals = { p99Ms: 5, p999Ms: 10, floorShare: 0.8, latencySetup: 'SQLite, 1 replica' };

type Store = 'sqlite' | 'postgres';

interface Setup {
  readonly store: Store;
  readonly replicas: number;
  readonly transport: Transport;
  readonly openLoop: boolean;
}

const SETUPS: readonly Setup[] = [
  { store: 'sqlite', replicas: 1, transport: 'keep-alive', openLoop: true },
  { store: 'sqlite', replicas: 1, transport: 'tls-per-exchange', openLoop: true },
  { store: 'sqlite', replicas: 2, transport: 'keep-alive', openLoop: false },
  { store: 'postgres', replicas: 2, transport: 'keep-alive', openLoop: true },
];

const label = (setup: Setup): string =>
  `${setup.store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${setup.replicas} replica${setup.replicas === 1 ? '' : 's'}${setup.transport === 'tls-per-exchange' ? ', new TLS conn. each' : ''}`;

const masterKeyHex = randomBytes(32).toString('hex');
const adminToken = randomBytes(24).toString('hex');
const began = performance.now();

function progress(text: string): void {
  const seconds = Math.round((performance.now() - began) / 1000);
  process.stderr.write(`  [${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}] ${text}\n`);
}

/** What every setup shares. */
interface Bench {
  readonly workload: Workload;
  readonly floors: Readonly<Record<number, () => Promise<FloorRates>>>;
  readonly work: string;
  readonly policyFile: string;
  readonly certificate: { readonly certFile: string; readonly keyFile: string };
  readonly ca: Buffer;
  readonly cluster: PostgresCluster | undefined;
  readonly peaks: PeakFigures[];
  readonly latencies: LatencyFigures[];
  readonly seeded: Set<Store>;
}

/** The PostgreSQL server's process id (from its postmaster.pid), to count its CPU with its backends'. */
async function postmasterPid(cluster: PostgresCluster): Promise<number> {
  return Number((await readFile(join(cluster.directory, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

async function seed(port: number, workload: Workload): Promise<void> {
  const queue = [...workload.secrets];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let secret = queue.pop(); secret !== undefined; secret = queue.pop()) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/admin/secrets/${secret.name}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: secret.value }),
        });
        if (response.status !== 201) throw new Error(`storing ${secret.name}: HTTP ${response.status}`);
      }
    }),
  );
}

interface Load {
  readonly bench: Bench;
  readonly setup: Setup;
  readonly replicas: readonly Replica[];
  readonly targets: readonly Target[];
  readonly databasePid: number | undefined;
  readonly secrets: number;
}

interface Round {
  readonly rate: number;
  readonly floor: FloorRates;
  readonly ratioNode: number;
  readonly cpu: ReturnType<typeof cpuFigures>;
  readonly errors: number;
}

/** One closed-loop load between two floor measurements. */
async function peakRound(load: Load, exchanges: number): Promise<Round> {
  const jobs = await load.bench.workload.jobs(exchanges, load.secrets);
  const measureFloor = load.bench.floors[load.secrets]!;
  const floorBefore = await measureFloor();
  const stopMeter = await startCpuMeter(
    load.replicas.map((replica) => replica.child.pid!),
    load.databasePid,
  );
  const result = await closedLoop(load.targets, jobs, IN_FLIGHT);
  const cpu = cpuFigures(await stopMeter(), jobs.length, result.seconds);
  const floorAfter = await measureFloor();
  const floor = {
    jose: (floorBefore.jose + floorAfter.jose) / 2,
    node: (floorBefore.node + floorAfter.node) / 2,
  };
  const rate = result.ok / result.seconds;
  return { rate, floor, ratioNode: rate / floor.node, cpu, errors: result.errors };
}

async function measurePeak(load: Load): Promise<number> {
  const { workload } = load.bench;
  const setup = label(load.setup);
  progress(`${setup}, ${load.secrets} secret${load.secrets === 1 ? '' : 's'}: warm-up`);
  const warmUp = await closedLoop(
    load.targets,
    await workload.jobs(WARM_UP_EXCHANGES, load.secrets),
    IN_FLIGHT,
  );
  if (warmUp.ok === 0) throw new Error(`no exchange succeeded; see the replica logs in ${load.bench.work}`);
  // A multiple of 10, so that two replicas get half each.
  const exchanges = Math.max(200, Math.round(((warmUp.ok / warmUp.seconds) * PEAK_SECONDS) / 10) * 10);
  const rounds: Round[] = [];
  for (let index = 0; index < ROUNDS; index += 1) {
    progress(`${setup}, ${load.secrets}: peak, round ${index + 1} of ${ROUNDS}`);
    const round = await peakRound(load, exchanges);
    rounds.push(round);
    progress(
      `  ${round.rate.toFixed(0)}/s; floor ${round.floor.jose.toFixed(0)}/s (jose), ${round.floor.node.toFixed(0)}/s (node:crypto); broker ${round.cpu.brokerMs.toFixed(2)} ms CPU each; ${round.errors} errors`,
    );
  }
  const ratios = rounds.map((round) => round.ratioNode);
  const median = [...rounds].sort((a, b) => a.ratioNode - b.ratioNode)[Math.floor(rounds.length / 2)]!;
  load.bench.peaks.push({
    setup,
    secrets: load.secrets,
    rate: median.rate,
    floorJose: median.floor.jose,
    floorNode: median.floor.node,
    ratioJose: median.rate / median.floor.jose,
    ratioNode: median.ratioNode,
    ratioNodeRange: [Math.min(...ratios), Math.max(...ratios)],
    cpu: median.cpu,
    rssMb: await Promise.all(load.replicas.map((replica) => peakRssMb(replica.child.pid!))),
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
  });
  return median.rate;
}

async function measureLatency(load: Load, rate: number): Promise<void> {
  const setup = label(load.setup);
  progress(`${setup}, ${load.secrets}: open loop at ${rate.toFixed(0)}/s for ${OPEN_SECONDS} s`);
  const jobs = await load.bench.workload.jobs(Math.round(rate * OPEN_SECONDS), load.secrets);
  const stopMeter = await startCpuMeter(
    load.replicas.map((replica) => replica.child.pid!),
    load.databasePid,
  );
  const result = await openLoop(load.targets, jobs, rate);
  const figures: LatencyFigures = {
    setup,
    secrets: load.secrets,
    offered: result.offeredRate,
    achieved: result.achievedRate,
    p50: quantile(result.latencies, 0.5),
    p99: quantile(result.latencies, 0.99),
    p999: quantile(result.latencies, 0.999),
    max: quantile(result.latencies, 1),
    sendLagP99: quantile(result.sendLag, 0.99),
    exchanges: result.ok,
    errors: result.errors,
    cpu: cpuFigures(await stopMeter(), jobs.length, result.seconds),
  };
  load.bench.latencies.push(figures);
  progress(
    `  p50 ${figures.p50.toFixed(1)} ms, p99 ${figures.p99.toFixed(1)} ms, p99.9 ${figures.p999.toFixed(1)} ms; ${figures.errors} errors`,
  );
}

async function runSetup(bench: Bench, setup: Setup): Promise<void> {
  const dataDir = join(bench.work, setup.store);
  await mkdir(dataDir, { recursive: true });
  const replicas = await startReplicas({
    count: setup.replicas,
    policyFile: bench.policyFile,
    dataDir,
    logPrefix: join(bench.work, `${setup.store}-replica`),
    masterKeyHex,
    adminToken,
    ...(setup.store === 'postgres' ? { databaseUrl: bench.cluster!.url } : {}),
    ...(setup.transport === 'tls-per-exchange' ? { tls: bench.certificate } : {}),
  });
  try {
    if (!bench.seeded.has(setup.store)) {
      if (setup.transport !== 'keep-alive') throw new Error('the first setup of a store seeds it over HTTP');
      progress(`${label(setup)}: storing ${bench.workload.secrets.length} secrets`);
      await seed(replicas[0]!.port, bench.workload);
      bench.seeded.add(setup.store);
    }
    const targets = replicas.map((replica) => ({
      host: '127.0.0.1',
      port: replica.port,
      transport: setup.transport,
      ca: bench.ca,
    }));
    const databasePid = setup.store === 'postgres' ? await postmasterPid(bench.cluster!) : undefined;
    for (const secrets of SECRET_COUNTS) {
      const load: Load = { bench, setup, replicas, targets, databasePid, secrets };
      const peak = await measurePeak(load);
      if (setup.openLoop) await measureLatency(load, peak * OPEN_LOOP_SHARE);
    }
  } finally {
    await stopReplicas(replicas);
  }
}

function printHeader(workload: Workload, issuers: number, tokenBytes: number): void {
  const valueBytes = (count: number) =>
    workload.sampleSecrets(count).reduce((sum, secret) => sum + Buffer.byteLength(secret.value), 0);
  for (const line of [
    `secrets-broker bench${QUICK ? ' (quick: small counts, rough figures)' : ''}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    `workload: ${workload.repositoryCount} repositories on ${issuers} issuers (GitHub, GitHub Enterprise and GitLab shapes), ${workload.ruleCount} rules, ${workload.secrets.length} secrets; RS256 tokens of ${size(tokenBytes)}, one per exchange, for random repositories; 1 secret = ${size(valueBytes(1))}, 10 secrets = ${size(valueBytes(10))} of values`,
    'stores: SQLite with durable commits (WAL); PostgreSQL 15 on this machine with its default durability (fsync and synchronous_commit on)',
    `load generator: this process (node:http, node:https), on the same ${cpus().length} cores as the brokers and PostgreSQL; TLS: ECDSA P-256 certificate, TLS 1.3, no session resumption`,
    `crypto floor: an exchange's token verification, and per secret an unwrap, a decrypt and a seal, in ${FLOOR_THREADS} threads; the token verified by jose (as the broker does) and by node:crypto (the stricter floor)`,
  ])
    console.log(line);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bench-'));
  const issuers: BenchIssuer[] = [
    { name: 'github', shape: 'github', issuer: await new TestIssuer().start() },
    { name: 'ghes', shape: 'github', issuer: await new TestIssuer().start() },
    { name: 'gitlab', shape: 'gitlab', issuer: await new TestIssuer().start() },
  ];
  const stores = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
  const setups = SETUPS.filter((setup) => stores.includes(setup.store));
  let cluster: PostgresCluster | undefined;
  let failed = true;
  try {
    if (setups.some((setup) => setup.store === 'postgres'))
      cluster = await PostgresCluster.start({ durable: true });
    const workload = new Workload(issuers, REPOSITORIES, AUDIENCE);
    const policyFile = join(work, 'policy.yaml');
    await writeFile(policyFile, workload.policyYaml());
    const certificate = await selfSignedCertificate(work);
    const floorIssuer = issuers[0]!.issuer;
    const publicJwk = ((await (await fetch(`${floorIssuer.url}/jwks`)).json()) as { keys: object[] })
      .keys[0]!;
    const floors = Object.fromEntries(
      SECRET_COUNTS.map((secrets) => [
        secrets,
        floorMeasurer({
          workload,
          secrets,
          masterKeyHex,
          issuerUrl: floorIssuer.url,
          publicJwk,
          audience: AUDIENCE,
          iterations: FLOOR_ITERATIONS[secrets]!,
        }),
      ]),
    );
    const bench: Bench = {
      workload,
      floors,
      work,
      policyFile,
      certificate,
      ca: await readFile(certificate.certFile),
      cluster,
      peaks: [],
      latencies: [],
      seeded: new Set(),
    };
    printHeader(workload, issuers.length, (await workload.sampleToken()).length);
    for (const setup of setups) await runSetup(bench, setup);

    printPeaks(bench.peaks, IN_FLIGHT, ROUNDS);
    printLatencies(bench.latencies, OPEN_LOOP_SHARE, OPEN_SECONDS);
    printGoals(bench.peaks, bench.latencies, GOALS, OPEN_LOOP_SHARE);
    const jsonFile = process.env.BENCH_JSON ?? join(tmpdir(), 'secrets-broker-bench.json');
    const settings = { quick: QUICK, rounds: ROUNDS, openSeconds: OPEN_SECONDS, repositories: REPOSITORIES };
    const machine = { cores: cpus().length, model: cpus()[0]?.model, node: process.version };
    await writeFile(
      jsonFile,
      `${JSON.stringify({ settings, machine, peaks: bench.peaks, latencies: bench.latencies }, null, 2)}\n`,
    );
    console.log(
      `\nFigures as JSON: ${jsonFile}; the bench took ${((performance.now() - began) / 60_000).toFixed(1)} minutes.`,
    );
    failed = false;
  } finally {
    if (cluster !== undefined) {
      await cluster.stop();
      await rm(cluster.directory, { recursive: true, force: true });
    }
    for (const { issuer } of issuers) await issuer.stop();
    if (failed) console.error(`The bench failed; its files (policy, replica logs, databases) are in ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
