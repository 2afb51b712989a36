/**
 * Loopback load against POST /v1/exchange for 1 and 10 secrets, on SQLite and on PostgreSQL, with the crypto
 * floor of the same work measured in the same run (right before and after each load, averaged). Prints
 * exchanges/s, p50/p99 latency, peak RSS and the ratio, for the median of BENCH_ROUNDS (3) rounds per scenario.
 *
 * Both cores: two broker processes (replicas sharing one SQLite file in WAL mode, or one PostgreSQL database)
 * each take half the load from two autocannon instances in this process; the floor runs in two worker threads,
 * each with four exchanges in flight.
 * The load generator shares the two cores with the brokers, which the broker figures include.
 */
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

import sodium from 'sodium-native';
import { LocalIssuer, localWorkloadClaims } from '../src/dev/local-issuer.js';
import { KeyRing } from '../src/broker/store/key-ring.js';
import { parseMasterKey } from '../src/broker/store/master-key.js';
import { REPO_ROOT } from '../test/helpers/child-process.js';
import { PostgresCluster } from '../test/helpers/postgres.js';
import { freePort } from '../test/helpers/free-port.js';

const AUDIENCE = 'https://secrets.bench.example';
const REQUESTS = { 1: 8000, 10: 4000 } as const;
/** Each scenario is measured this many times; the round with the median ratio is printed, with the range. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 16;
const FLOOR_THREADS = Math.min(2, cpus().length);
const masterKeyHex = randomBytes(32).toString('hex');
const adminToken = randomBytes(24).toString('hex');
const recipient = (() => {
  const publicKey = Buffer.alloc(32);
  sodium.crypto_box_keypair(publicKey, Buffer.alloc(32));
  return publicKey.toString('base64');
})();

interface Replica {
  child: ChildProcess;
  url: string;
}

/** Two broker processes; their JSON log lines (one audit line per exchange, as in production) go to files. */
async function startReplicas(policyFile: string, dataDir: string, databaseUrl?: string): Promise<Replica[]> {
  const replicas: Replica[] = [];
  for (let index = 0; index < Number(process.env.BENCH_REPLICAS ?? 2); index += 1) {
    const port = await freePort();
    const log = openSync(join(dataDir, `..`, `${basename(dataDir)}-replica-${index}.log`), 'w');
    const child = spawn(
      'node',
      [
        join(REPO_ROOT, 'bin/secrets-broker.js'),
        'serve',
        '--policy',
        policyFile,
        '--data-dir',
        dataDir,
        '--port',
        String(port),
      ],
      {
        env: {
          PATH: process.env.PATH,
          SECRETS_BROKER_MASTER_KEY: masterKeyHex,
          SECRETS_BROKER_BOOTSTRAP_TOKEN: adminToken,
          ...(databaseUrl === undefined ? {} : { SECRETS_BROKER_DATABASE_URL: databaseUrl }),
        },
        stdio: ['ignore', log, log],
      },
    );
    const url = `http://127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt += 1) {
      if ((await fetch(`${url}/healthz`).catch(() => undefined))?.ok) break;
      if (attempt > 300 || child.exitCode !== null)
        throw new Error(`replica ${index} did not start; see its log`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    replicas.push({ child, url });
  }
  return replicas;
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function seed(url: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, index) => `bench/s${count}/SECRET_${index}`);
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

interface LoadResult {
  rate: number;
  /** From the first request to the last response. */
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(
  replicas: readonly Replica[],
  tokens: string[],
  names: readonly string[],
): Promise<LoadResult> {
  const body = JSON.stringify({ recipient, secrets: names });
  const perReplica = Math.floor(tokens.length / replicas.length);
  const started = performance.now();
  // autocannon notices that `amount` is done only on its one-second tick: time the last response instead.
  let lastResponse = started;
  const results = await Promise.all(
    replicas.map(
      (replica, index) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const mine = tokens.slice(index * perReplica, (index + 1) * perReplica);
          let next = 0;
          const instance = autocannon(
            {
              url: `${replica.url}/v1/exchange`,
              connections: CONNECTIONS,
              amount: mine.length,
              requests: [
                {
                  method: 'POST',
                  setupRequest: (request) => ({
                    ...request,
                    headers: {
                      'content-type': 'application/json',
                      authorization: `Bearer ${mine[next++ % mine.length]}`,
                    },
                    body,
                  }),
                },
              ],
            },
            (error, result) => (error ? reject(error) : resolve(result)),
          );
          instance.on('response', () => {
            lastResponse = performance.now();
          });
        }),
    ),
  );
  const seconds = (lastResponse - started) / 1000;
  const ok = results.reduce((sum, result) => sum + result['2xx'], 0);
  const errors = results.reduce((sum, result) => sum + result.non2xx + result.errors, 0);
  return {
    rate: ok / seconds,
    seconds,
    p50: Math.max(...results.map((result) => result.latency.p50)),
    p99: Math.max(...results.map((result) => result.latency.p99)),
    errors,
  };
}

async function cryptoFloor(
  issuer: LocalIssuer,
  publicJwk: object,
  count: number,
  iterations: number,
): Promise<number> {
  const ring = new KeyRing(parseMasterKey(masterKeyHex, 'bench'));
  const { encryptValue } = await import('../src/broker/store/envelope.js');
  const secrets = Array.from({ length: count }, (_, index) => {
    const name = `bench/floor/SECRET_${index}`;
    const encrypted = encryptValue(
      randomBytes(24),
      name,
      1,
      ring.currentKeyId,
      ring.wrappingKey(ring.currentKeyId)!,
    );
    return {
      name,
      version: 1,
      keyId: encrypted.keyId,
      wrappedKey: encrypted.wrappedKey.toString('base64'),
      nonce: encrypted.nonce.toString('base64'),
      ciphertext: encrypted.ciphertext.toString('base64'),
    };
  });
  const token = await issuer.mint(AUDIENCE);
  const runs = await Promise.all(
    Array.from(
      { length: FLOOR_THREADS },
      () =>
        new Promise<{ seconds: number }>((resolve, reject) => {
          const worker = new Worker(new URL('./floor-worker.mjs', import.meta.url), {
            workerData: {
              token,
              publicJwk,
              issuer: issuer.url,
              audience: AUDIENCE,
              secrets,
              kek: ring.wrappingKey(ring.currentKeyId)!.toString('base64'),
              recipient,
              iterations,
            },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return runs.reduce((sum, run) => sum + iterations / run.seconds, 0);
}

function mintTokens(issuer: LocalIssuer, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => issuer.mint(AUDIENCE)));
}

interface Round extends LoadResult {
  floorRate: number;
  ratio: number;
  brokerCpuMs: number;
  generatorCpuMs: number;
  coresBusy: number;
  rss: number[];
}

/** One measured load, with the floor right before and right after it: this VM's speed drifts with its neighbours. */
async function measureRound(
  replicas: readonly Replica[],
  tokens: string[],
  names: readonly string[],
  floor: () => Promise<number>,
): Promise<Round> {
  const floorBefore = await floor();
  const cpuBefore = await Promise.all(replicas.map((replica) => cpuSeconds(replica.child.pid as number)));
  const generatorBefore = process.cpuUsage();
  const result = await load(replicas, tokens, names);
  const generator = process.cpuUsage(generatorBefore);
  const cpuAfter = await Promise.all(replicas.map((replica) => cpuSeconds(replica.child.pid as number)));
  const brokerCpuMs =
    ((cpuAfter.reduce((a, b) => a + b, 0) - cpuBefore.reduce((a, b) => a + b, 0)) * 1000) / tokens.length;
  const generatorCpuMs = (generator.user + generator.system) / 1000 / tokens.length;
  const floorRate = (floorBefore + (await floor())) / 2;
  return {
    ...result,
    floorRate,
    ratio: result.rate / floorRate,
    brokerCpuMs,
    generatorCpuMs,
    coresBusy: ((brokerCpuMs + generatorCpuMs) * tokens.length) / 1000 / result.seconds,
    rss: await Promise.all(replicas.map((replica) => peakRssMb(replica.child.pid as number))),
  };
}

async function main(): Promise<void> {
  const issuer = new LocalIssuer(localWorkloadClaims({}));
  await issuer.start('127.0.0.1', 0);
  const jwks = (await (await fetch(`${issuer.url}/jwks`)).json()) as { keys: object[] };
  const publicJwk = jwks.keys[0]!;
  const work = await mkdtemp(join(tmpdir(), 'bench-'));
  const policyFile = join(work, 'policy.yaml');
  await writeFile(
    policyFile,
    `version: 1\naudience: ${AUDIENCE}\nissuers:\n  local:\n    url: ${issuer.url}\nrules:\n  - name: bench\n    issuer: local\n    claims:\n      repository: acme/demo\n    secrets: ["bench/**"]\n# The load is one workload from one address: lift the rate limits out of the way.\nlimits:\n  per_source_ip: { rate: "1000000", burst: "1000000" }\n  per_workload: { rate: "1000000", burst: "1000000" }\n`,
  );

  console.log(
    `secrets-broker bench: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
  );
  console.log(
    `scenario              exchanges/s   p50 ms   p99 ms   peak RSS MB (per replica)   errors   floor/s   broker/floor   range (median of ${ROUNDS} rounds)`,
  );

  const cpuNotes: string[] = [];
  const cluster = await PostgresCluster.start();
  try {
    const stores = [
      ['sqlite', undefined],
      ['postgres', cluster.url],
    ] as const;
    // BENCH_STORES=sqlite (or postgres) runs one store only.
    for (const [store, databaseUrl] of stores.filter(([name]) =>
      (process.env.BENCH_STORES ?? name).split(',').includes(name),
    )) {
      const dataDir = join(work, store);
      const replicas = await startReplicas(policyFile, dataDir, databaseUrl);
      try {
        for (const count of [1, 10] as const) {
          const names = await seed(replicas[0]!.url, count);
          // A warm-up so JIT and connection pools are ready; its tokens are separate.
          await load(replicas, await mintTokens(issuer, 1000), names);
          const floor = () => cryptoFloor(issuer, publicJwk, count, count === 1 ? 8000 : 3000);
          const rounds: Round[] = [];
          for (let round = 0; round < ROUNDS; round += 1)
            rounds.push(
              await measureRound(replicas, await mintTokens(issuer, REQUESTS[count]), names, floor),
            );
          const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]!;
          const ratios = rounds.map((each) => each.ratio);
          cpuNotes.push(
            `${store}, ${count}: broker ${median.brokerCpuMs.toFixed(2)} ms CPU per exchange (both replicas), load generator ${median.generatorCpuMs.toFixed(2)} ms, floor ${((FLOOR_THREADS * 1000) / median.floorRate).toFixed(2)} ms; ${median.coresBusy.toFixed(2)} of ${cpus().length} cores busy`,
          );
          console.log(
            `${`${store}, ${count} secret${count === 1 ? '' : 's'}`.padEnd(22)}${median.rate.toFixed(0).padStart(11)}${median.p50.toFixed(1).padStart(9)}${median.p99.toFixed(1).padStart(9)}${median.rss
              .map((mb) => mb.toFixed(0))
              .join(' / ')
              .padStart(28)}${String(rounds.reduce((sum, each) => sum + each.errors, 0)).padStart(
              9,
            )}${median.floorRate.toFixed(0).padStart(10)}${median.ratio.toFixed(2).padStart(15)}${`${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`.padStart(13)}`,
          );
        }
      } finally {
        for (const replica of replicas) {
          replica.child.kill('SIGTERM');
          await new Promise((resolve) => replica.child.once('exit', resolve));
        }
      }
    }
  } finally {
    await cluster.stop();
    await issuer.stop();
  }
  console.log('CPU per exchange:');
  for (const note of cpuNotes) console.log(`  ${note}`);
}

await main();
