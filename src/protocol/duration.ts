const UNITS = /^(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$/;

/**
 * A duration written with units, in this order: `30d`, `6h`, `10m`, `90s`, or combined (`1h30m`). Seconds; undefined
 * for anything else, a bare number included (it has no unit). The one parser of durations for the CLI, the policy
 * and the clients.
 */
export function parseDuration(text: string): number | undefined {
  const match = text === '' ? null : UNITS.exec(text);
  if (match === null) return undefined;
  const [, days = '0', hours = '0', minutes = '0', seconds = '0'] = match;
  return Number(days) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

/** Seconds in the largest unit that divides them, as parseDuration reads them back: 86400 is "1d", 90 is "90s". */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
