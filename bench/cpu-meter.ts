/**
 * What the exchange bench reads from Linux's /proc: the CPU time spent by the broker replicas, the database
 * server, this process (the load generator) and the whole machine over a measurement, and peak memory.
 */
import { readFile } from 'node:fs/promises';

export interface CpuUse {
  /** CPU seconds over the measurement. */
  readonly brokers: number;
  /** PostgreSQL's server and its backends; 0 for SQLite. */
  readonly database: number;
  /** This process: the load generator, and its ticker thread. */
  readonly generator: number;
  /** Every process on the machine: ours, and whatever else runs (neighbours on a shared VM). */
  readonly machine: number;
}

/** User + system CPU seconds a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The same for a process and its descendants alive now (a backend that exited meanwhile is not counted). */
async function treeCpuSeconds(pid: number): Promise<number> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  let total = await cpuSeconds(pid).catch(() => 0);
  for (const child of children.split(' ').filter((each) => each.trim() !== ''))
    total += await treeCpuSeconds(Number(child));
  return total;
}

/** CPU seconds the machine has spent busy (all cores, all processes): everything but idle and iowait. */
async function machineBusySeconds(): Promise<number> {
  const [user, nice, system, , , irq, softirq, steal] = (await readFile('/proc/stat', 'utf8'))
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
}

async function readCpu(brokerPids: readonly number[], databasePid: number | undefined): Promise<CpuUse> {
  const own = process.cpuUsage();
  return {
    brokers: (await Promise.all(brokerPids.map(cpuSeconds))).reduce((a, b) => a + b, 0),
    database: databasePid === undefined ? 0 : await treeCpuSeconds(databasePid),
    generator: (own.user + own.system) / 1e6,
    machine: await machineBusySeconds(),
  };
}

/** Starts measuring; the function returned gives the CPU seconds spent since. */
export async function startCpuMeter(
  brokerPids: readonly number[],
  databasePid: number | undefined,
): Promise<() => Promise<CpuUse>> {
  const before = await readCpu(brokerPids, databasePid);
  return async () => {
    const after = await readCpu(brokerPids, databasePid);
    return {
      brokers: after.brokers - before.brokers,
      database: after.database - before.database,
      generator: after.generator - before.generator,
      machine: after.machine - before.machine,
    };
  };
}

export async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}
