/**
 * What a pattern request costs as more names are stored: planRelease for `prod/db/*` (10 stored names match)
 * under a grant of `prod/**`, with 1,000, 10,000 and 100,000 names stored, all of them granted. Beside it the
 * same request reading every stored name (what the release plan did before it read ranges). Prints this
 * process's CPU (user + system) and wall time per request, the median of BENCH_ROUNDS (5) rounds, and how many
 * names each request read. On PostgreSQL the server's own CPU is not in the CPU column (it is in the wall time).
 *
 * Run: npx tsx bench/pattern-bench.ts (BENCH_STORES=sqlite or postgres for one store).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRelease, type StoredNames } from '../src/broker/exchange/release-plan.js';
import { MATCH_STEPS_PER_EXCHANGE } from '../src/broker/exchange/exchange-service.js';

import { grantsOf } from '../test/helpers/grants.js';
import { SqlSecretRecords } from '../src/broker/sql/sql-secret-records.js';
import { formatTable } from '../src/cli/format-table.js';
import { WorkBudget } from '../src/protocol/automaton.js';
import { parseRequestedEntry } from '../src/protocol/secret-names.js';
import { PostgresCluster } from '../test/helpers/postgres.js';
import { postgresNameStore, sqliteNameStore, type NameStore } from '../test/helpers/stored-names.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Each round runs requests for this long. */
const ROUND_MS = 300;
const SIZES = [1_000, 10_000, 100_000];
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres').split(',');
const MATCHING = Array.from({ length: 10 }, (_, index) => `prod/db/KEY${index}`);

interface Cost {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly namesRead: number;
}

/** One request as the exchange plans it: the entry parsed, the rules matched, the names read and matched. */
async function request(storedNames: StoredNames): Promise<number> {
  const budget = new WorkBudget(MATCH_STEPS_PER_EXCHANGE);
  const grants = grantsOf(['prod/**'], budget);
  let read = 0;
  const plan = await planRelease([parseRequestedEntry('prod/db/*')], grants, async (prefixes, limit) => {
    const names = await storedNames(prefixes, limit);
    read += names.length;
    return names;
  });
  if (plan.names.size !== MATCHING.length) throw new Error(`expected 10 names, got ${plan.names.size}`);
  return read;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function measure(storedNames: StoredNames): Promise<Cost> {
  const cpu: number[] = [];
  const wall: number[] = [];
  let namesRead = 0;
  // Round 0 warms up and is not counted.
  for (let round = 0; round <= ROUNDS; round += 1) {
    const startCpu = process.cpuUsage();
    const start = performance.now();
    let count = 0;
    while (performance.now() - start < ROUND_MS) {
      namesRead = await request(storedNames);
      count += 1;
    }
    const used = process.cpuUsage(startCpu);
    if (round === 0) continue;
    wall.push((performance.now() - start) / count);
    cpu.push((used.user + used.system) / 1000 / count);
  }
  return { cpuMs: median(cpu), wallMs: median(wall), namesRead };
}

async function fill(store: NameStore, from: number, to: number): Promise<void> {
  const names = Array.from({ length: to - from }, (_, index) => `prod/svc${from + index}/KEY`);
  await store.insert(from === 0 ? [...MATCHING, ...names.slice(MATCHING.length)] : names);
}

async function benchStore(kind: string, store: NameStore): Promise<string[][]> {
  const records = new SqlSecretRecords(store.database);
  const rows: string[][] = [];
  let stored = 0;
  for (const size of SIZES) {
    await fill(store, stored, size);
    // The first figures of a process come out several times too high, however long one round warms up.
    if (size === SIZES[0]) await measure((prefixes, limit) => records.currentNames(prefixes, limit));
    stored = size;
    const ranged = await measure((prefixes, limit) => records.currentNames(prefixes, limit));
    // As before ranges: every stored name read, then those under the prefixes kept.
    let readAll = 0;
    const everything = {
      ...(await measure(async (prefixes) => {
        const all = await records.currentNames(['']);
        readAll = all.length;
        return all.filter((name) => prefixes.some((prefix) => name.startsWith(prefix)));
      })),
      get namesRead() {
        return readAll;
      },
    };
    rows.push([
      kind,
      String(size),
      ranged.cpuMs.toFixed(3),
      ranged.wallMs.toFixed(3),
      String(ranged.namesRead),
      everything.cpuMs.toFixed(3),
      everything.wallMs.toFixed(3),
      String(everything.namesRead),
    ]);
  }
  return rows;
}

const directory = await mkdtemp(join(tmpdir(), 'pattern-bench-'));
let cluster: PostgresCluster | undefined;
const rows: string[][] = [
  ['store', 'stored', 'CPU ms', 'wall ms', 'names read', 'read all: CPU ms', 'wall ms', 'names read'],
];
try {
  if (STORES.includes('sqlite')) {
    const store = sqliteNameStore(join(directory, 'names.db'));
    try {
      rows.push(...(await benchStore('SQLite', store)));
    } finally {
      await store.close();
    }
  }
  if (STORES.includes('postgres')) {
    cluster = await PostgresCluster.start();
    const store = await postgresNameStore(cluster.url);
    try {
      rows.push(...(await benchStore('PostgreSQL', store)));
    } finally {
      await store.close();
    }
  }
} finally {
  await cluster?.stop();
  await rm(directory, { recursive: true, force: true });
}
console.log(`A pattern request for 10 of N stored names (median of ${ROUNDS} rounds):`);
for (const line of formatTable(rows)) console.log(line);
