/** The exchange bench's figures, and how they are printed: two tables and the goals. */
import { formatTable } from '../src/cli/format-table.js';
import type { CpuUse } from './cpu-meter.js';

/** Where the CPU went during a load. */
export interface CpuFigures {
  /** Milliseconds of CPU per exchange: all broker replicas, PostgreSQL (0 for SQLite), the load generator. */
  readonly brokerMs: number;
  readonly databaseMs: number;
  readonly generatorMs: number;
  /**
   * Cores kept busy by those three, and by every other process on the machine (neighbours on a shared VM).
   */
  readonly oursCores: number;
  readonly otherCores: number;
}

export function cpuFigures(use: CpuUse, exchanges: number, seconds: number): CpuFigures {
  const ours = use.brokers + use.database + use.generator;
  return {
    brokerMs: (use.brokers * 1000) / exchanges,
    databaseMs: (use.database * 1000) / exchanges,
    generatorMs: (use.generator * 1000) / exchanges,
    oursCores: ours / seconds,
    otherCores: Math.max(0, use.machine - ours) / seconds,
  };
}

export interface PeakFigures {
  readonly setup: string;
  readonly secrets: number;
  readonly rate: number;
  readonly floorJose: number;
  readonly floorNode: number;
  readonly ratioJose: number;
  readonly ratioNode: number;
  /** The lowest and highest ratio to the node:crypto floor over the rounds. */
  readonly ratioNodeRange: readonly [number, number];
  readonly cpu: CpuFigures;
  readonly rssMb: readonly number[];
  /** Over all rounds. */
  readonly errors: number;
}

export interface LatencyFigures {
  readonly setup: string;
  readonly secrets: number;
  readonly offered: number;
  readonly achieved: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly sendLagP99: number;
  readonly exchanges: number;
  readonly errors: number;
  readonly cpu: CpuFigures;
}

export interface Goals {
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** 10 secrets at least this share of the node:crypto floor. */
  readonly floorShare: number;
  /** The setup the latency goal is for. */
  readonly latencySetup: string;
}

const fixed = (value: number, digits: number): string =>
  Number.isFinite(value) ? value.toFixed(digits) : '-';

function print(title: string, rows: readonly (readonly string[])[]): void {
  console.log(`\n${title}`);
  for (const line of formatTable(rows)) console.log(`  ${line}`);
}

const cpuCells = (cpu: CpuFigures): string[] => [
  fixed(cpu.brokerMs, 2),
  cpu.databaseMs === 0 ? '-' : fixed(cpu.databaseMs, 2),
  fixed(cpu.generatorMs, 2),
  `${fixed(cpu.oursCores, 1)} / ${fixed(cpu.otherCores, 1)}`,
];

export function printPeaks(peaks: readonly PeakFigures[], inFlight: number, rounds: number): void {
  print(
    `Peak: closed loop, ${inFlight} exchanges in flight per replica; of ${rounds} round(s), the one with the median ratio to the node:crypto floor (range: all rounds). CPU ms per exchange.`,
    [
      [
        'setup',
        'secrets',
        'exchanges/s',
        'floor jose/s',
        'floor node/s',
        'x jose',
        'x node',
        'range',
        'broker ms',
        'PG ms',
        'loadgen ms',
        'cores ours / others',
        'peak RSS MB',
        'errors',
      ],
      ...peaks.map((peak) => [
        peak.setup,
        String(peak.secrets),
        fixed(peak.rate, 0),
        fixed(peak.floorJose, 0),
        fixed(peak.floorNode, 0),
        fixed(peak.ratioJose, 2),
        fixed(peak.ratioNode, 2),
        `${fixed(peak.ratioNodeRange[0], 2)}-${fixed(peak.ratioNodeRange[1], 2)}`,
        ...cpuCells(peak.cpu),
        peak.rssMb.map((mb) => fixed(mb, 0)).join(' / '),
        String(peak.errors),
      ]),
    ],
  );
}

export function printLatencies(latencies: readonly LatencyFigures[], share: number, seconds: number): void {
  print(
    `Latency: open loop, Poisson arrivals at ${share * 100}% of the peak above for ${seconds} s, each exchange timed from its scheduled send. CPU ms per exchange.`,
    [
      [
        'setup',
        'secrets',
        'offered/s',
        'achieved/s',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'max ms',
        'send lag p99 ms',
        'exchanges',
        'errors',
        'broker ms',
        'PG ms',
        'loadgen ms',
        'cores ours / others',
      ],
      ...latencies.map((latency) => [
        latency.setup,
        String(latency.secrets),
        fixed(latency.offered, 0),
        fixed(latency.achieved, 0),
        fixed(latency.p50, 1),
        fixed(latency.p99, 1),
        fixed(latency.p999, 1),
        fixed(latency.max, 1),
        fixed(latency.sendLagP99, 2),
        String(latency.exchanges),
        String(latency.errors),
        ...cpuCells(latency.cpu),
      ]),
    ],
  );
}

export function printGoals(
  peaks: readonly PeakFigures[],
  latencies: readonly LatencyFigures[],
  goals: Goals,
  share: number,
): void {
  const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');
  console.log('\nGoals:');
  for (const latency of latencies.filter(
    (each) => each.secrets === 10 && each.setup.startsWith(goals.latencySetup),
  )) {
    const met = latency.p99 <= goals.p99Ms && latency.p999 <= goals.p999Ms && latency.errors === 0;
    console.log(
      `  p99 <= ${goals.p99Ms} ms and p99.9 <= ${goals.p999Ms} ms at ${share * 100}% of the peak, 10 secrets, ${latency.setup}: p99 ${fixed(latency.p99, 1)} ms, p99.9 ${fixed(latency.p999, 1)} ms: ${verdict(met)}`,
    );
  }
  for (const peak of peaks.filter((each) => each.secrets === 10)) {
    console.log(
      `  10 secrets at >= ${goals.floorShare} x the node:crypto floor, ${peak.setup}: ${fixed(peak.ratioNode, 2)} x: ${verdict(peak.ratioNode >= goals.floorShare)}`,
    );
  }
  const busiest = Math.max(0, ...[...peaks, ...latencies].map((each) => each.cpu.otherCores));
  if (busiest > 0.25) {
    console.log(
      `\nOther processes kept up to ${fixed(busiest, 1)} cores busy during the loads: these figures are from a shared machine, not a quiet one.`,
    );
  }
}
