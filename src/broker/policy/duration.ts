import { parseDuration } from '../../protocol/duration.js';

/** Parses "90s", "10m", "1h30m", "1d" or a bare number of seconds; undefined when it is none of these. */
export function parseDurationSeconds(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : parseDuration(text);
}
