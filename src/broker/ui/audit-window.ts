import type { AuditRecords } from '../store/interfaces.js';

/**
 * Records are appended in time order only roughly: replicas' clocks differ a little and appends are batched. The
 * search aims this much before the window so that a record stamped a little out of order is still read.
 */
export const WINDOW_START_SLACK_MS = 5 * 60_000;

function timeOf(record: string): number {
  try {
    const time = (JSON.parse(record) as { time?: unknown }).time;
    return typeof time === 'string' ? Date.parse(time) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * A sequence number to read the log after so that the records from `start` on are read, without reading the log
 * from its beginning: a binary search over sequence numbers, one record read per probe (about log2(head) reads).
 * A record whose time cannot be read counts as inside the window (the search then starts earlier, never later).
 */
export async function seqBefore(
  readAfter: AuditRecords['page'],
  headSeq: number,
  start: number,
): Promise<number> {
  const target = start - WINDOW_START_SLACK_MS;
  // Every record up to `low` is older than the target; the answer is in [low, high].
  let low = 0;
  let high = headSeq;
  while (low < high) {
    const middle = low + Math.ceil((high - low) / 2);
    const [first] = await readAfter(middle - 1, 1);
    const time = first === undefined ? Number.NaN : timeOf(first.record);
    if (first === undefined || Number.isNaN(time) || time >= target) high = middle - 1;
    else low = Math.min(first.seq, high);
  }
  return low;
}
