/**
 * The exchange bench's load generator: POST /v1/exchange over node:http or node:https from this process, each
 * request with its own token and body.
 *
 * - closedLoop: a fixed number of requests in flight per replica, the next sent as soon as one ends. It finds
 *   the peak rate; its latencies are mostly time spent queueing, so it reports none.
 * - openLoop: Poisson arrivals at a given rate, each request sent at its scheduled time whether or not
 *   earlier ones have finished, and its latency counted from that scheduled time (no coordinated omission: a
 *   stalled broker, or a late load generator, is charged for every request that should have left meanwhile).
 *
 * Transports: `keep-alive` reuses connections (a proxy in front of the broker); `tls-per-exchange` opens a
 * new TLS connection for every request with no session resumption, as each CI job does.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { Worker } from 'node:worker_threads';

export type Transport = 'keep-alive' | 'tls-per-exchange';

/** One exchange to send: a token used once and the JSON body naming its secrets. */
export interface Job {
  readonly token: string;
  readonly body: string;
}

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly transport: Transport;
  /** The broker's self-signed certificate, trusted for tls-per-exchange. */
  readonly ca?: Buffer;
}

/** Below the broker's 256 connections per client address; more requests wait in the agent (and are timed). */
const MAX_SOCKETS = 200;
const REQUEST_TIMEOUT_MS = 30_000;

export interface ClosedLoopResult {
  readonly ok: number;
  readonly errors: number;
  /** From the first request sent to the last response. */
  readonly seconds: number;
}

export interface OpenLoopResult {
  readonly offeredRate: number;
  /** From the first scheduled send to the last response. */
  readonly seconds: number;
  /** Successful exchanges a second over those seconds. */
  readonly achievedRate: number;
  readonly ok: number;
  readonly errors: number;
  /** Milliseconds from each successful request's scheduled send time to the end of its response, sorted. */
  readonly latencies: Float64Array;
  /** Milliseconds each request left after its scheduled time (the load generator's own delay), sorted. */
  readonly sendLag: Float64Array;
}

/**
 * One agent per target and run: keep-alive pools connections; tls-per-exchange never reuses a connection or a
 * session.
 */
function agentFor(target: Target): HttpAgent {
  return target.transport === 'keep-alive'
    ? new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS })
    : new HttpsAgent({
        keepAlive: false,
        maxSockets: MAX_SOCKETS,
        maxCachedSessions: 0,
        // One context for all connections: a `ca` option alone would build one per connection, a cost a CI
        // job pays once per process and which would only take CPU from the broker here.
        secureContext: createSecureContext({ ca: target.ca }),
      });
}

class Sender {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;

  constructor(private readonly target: Target) {
    this.agent = agentFor(target);
    this.send = target.transport === 'keep-alive' ? httpRequest : httpsRequest;
  }

  /** Resolves with the HTTP status once the whole response has arrived, 0 on a network error or timeout. */
  exchange(job: Job): Promise<number> {
    return new Promise((resolve) => {
      const request = this.send({
        host: this.target.host,
        port: this.target.port,
        path: '/v1/exchange',
        method: 'POST',
        agent: this.agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(job.body),
          authorization: `Bearer ${job.token}`,
        },
      });
      request.once('response', (response: IncomingMessage) => {
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', () => resolve(0));
        response.resume();
      });
      request.once('timeout', () => request.destroy(new Error('timed out')));
      request.once('error', () => resolve(0));
      request.end(job.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** `inFlight` requests at a time per target; the jobs are split evenly between the targets. */
export async function closedLoop(
  targets: readonly Target[],
  jobs: readonly Job[],
  inFlight: number,
): Promise<ClosedLoopResult> {
  const senders = targets.map((target) => new Sender(target));
  const share = Math.floor(jobs.length / targets.length);
  let ok = 0;
  let errors = 0;
  const started = performance.now();
  let lastResponse = started;
  await Promise.all(
    senders.flatMap((sender, index) => {
      const mine = jobs.slice(index * share, (index + 1) * share);
      let next = 0;
      return Array.from({ length: inFlight }, async () => {
        while (next < mine.length) {
          const status = await sender.exchange(mine[next++]!);
          lastResponse = performance.now();
          if (status === 200) ok += 1;
          else errors += 1;
        }
      });
    }),
  );
  for (const sender of senders) sender.close();
  return { ok, errors, seconds: (lastResponse - started) / 1000 };
}

/** Each job sent after the previous one's answer: milliseconds per exchange, sorted (the latency without load). */
export async function sequentialLatencies(target: Target, jobs: readonly Job[]): Promise<Float64Array> {
  const sender = new Sender(target);
  const latencies = new Float64Array(jobs.length);
  try {
    for (const [index, job] of jobs.entries()) {
      const started = performance.now();
      if ((await sender.exchange(job)) !== 200) throw new Error('an exchange failed');
      latencies[index] = performance.now() - started;
    }
  } finally {
    sender.close();
  }
  return latencies.sort();
}

/** Arrival times in ms from the start: exponential gaps with mean 1000/rate (a Poisson process). */
function poissonArrivals(count: number, rate: number): Float64Array {
  const arrivals = new Float64Array(count);
  let at = 0;
  for (let index = 0; index < count; index += 1) {
    at += (-Math.log(1 - Math.random()) * 1000) / rate;
    arrivals[index] = at;
  }
  return arrivals;
}

/**
 * Milliseconds on the monotonic clock, the same in every thread of the process (as in open-loop-ticker.mjs).
 */
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Sends job i at its Poisson arrival time, to the targets in turn. Node's timers fire on whole milliseconds,
 * which would add up to 1-2 ms to every latency; a ticker thread sleeps until each arrival (Atomics.wait
 * takes fractions of a millisecond) and wakes this thread, which sends every job that is due.
 */
export async function openLoop(
  targets: readonly Target[],
  jobs: readonly Job[],
  rate: number,
): Promise<OpenLoopResult> {
  const senders = targets.map((target) => new Sender(target));
  const origin = now() + 250; // time for the ticker thread to start
  const arrivals = poissonArrivals(jobs.length, rate);
  const latencies: number[] = [];
  const sendLag = new Float64Array(jobs.length);
  let errors = 0;
  let next = 0;
  let lastResponse = origin;
  const inFlight: Promise<void>[] = [];
  const sendDue = (): void => {
    const elapsed = now() - origin;
    while (next < jobs.length && arrivals[next]! <= elapsed) {
      const index = next++;
      const scheduled = origin + arrivals[index]!;
      sendLag[index] = now() - scheduled;
      inFlight.push(
        senders[index % senders.length]!.exchange(jobs[index]!).then((status) => {
          lastResponse = now();
          if (status === 200) latencies.push(lastResponse - scheduled);
          else errors += 1;
        }),
      );
    }
  };
  const ticker = new Worker(new URL('./open-loop-ticker.mjs', import.meta.url), {
    workerData: { origin, arrivals },
  });
  await new Promise<void>((resolve, reject) => {
    ticker.on('message', sendDue);
    ticker.once('error', reject);
    ticker.once('exit', () => resolve());
  });
  sendDue();
  await Promise.all(inFlight);
  for (const sender of senders) sender.close();
  const seconds = (lastResponse - origin) / 1000;
  return {
    offeredRate: rate,
    seconds,
    achievedRate: latencies.length / seconds,
    ok: latencies.length,
    errors,
    latencies: Float64Array.from(latencies).sort(),
    sendLag: sendLag.sort(),
  };
}

/** The q-quantile (0.99 for p99) of sorted values: the smallest value at or above that fraction of them. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
