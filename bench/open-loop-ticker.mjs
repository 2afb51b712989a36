// The open-loop driver's clock (bench/load-driver.ts): sleeps until each scheduled arrival with Atomics.wait,
// which takes fractions of a millisecond, and posts a message that wakes the sending thread. Exits after the
// last arrival.
import { hrtime } from 'node:process';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ origin: number, arrivals: Float64Array }} */
const { origin, arrivals } = workerData;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Milliseconds on the monotonic clock, the same in every thread of the process (as in load-driver.ts). */
const now = () => Number(hrtime.bigint()) / 1e6;

for (const arrival of arrivals) {
  const wait = origin + arrival - now();
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  parentPort.postMessage(0);
}
