import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/protocol/duration.js';

describe('durations', () => {
  it('reads units in order d, h, m, s, alone or combined', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('10m')).toBe(600);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('30d')).toBe(30 * 86_400);
    expect(parseDuration('1d2h3m4s')).toBe(86_400 + 7200 + 180 + 4);
  });

  it.each(['', '90', '1m1h', '1x', '-1s', '1.5h', '1234567s', ' 1h'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('writes seconds in the largest unit that divides them, read back as the same seconds', () => {
    expect([86_400, 5_400, 3_600, 90, 60, 1, 0].map(formatDuration)).toEqual([
      '1d',
      '90m',
      '1h',
      '90s',
      '1m',
      '1s',
      '0s',
    ]);
    for (const seconds of [1, 59, 61, 3_599, 7_200, 172_800, 90_061])
      expect(parseDuration(formatDuration(seconds))).toBe(seconds);
  });
});
