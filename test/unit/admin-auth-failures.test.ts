import { describe, expect, it } from 'vitest';
import {
  AdminAuthFailures,
  DEFAULT_ADMIN_AUTH_LIMITS,
  OTHER_ADDRESSES,
} from '../../src/broker/admin/admin-auth-failures.js';

function failures(overrides: Partial<typeof DEFAULT_ADMIN_AUTH_LIMITS> = {}) {
  const clock = { now: 0 };
  const limits = { ...DEFAULT_ADMIN_AUTH_LIMITS, now: () => clock.now, ...overrides };
  return { clock, failures: new AdminAuthFailures(limits) };
}

describe('AdminAuthFailures', () => {
  it('lets the burst through, then refuses with the seconds until the next failure is allowed', () => {
    const { clock, failures: limiter } = failures({ burst: 2, refillPerSecond: 1 / 6 });
    expect([limiter.fail('a'), limiter.fail('a')]).toEqual([0, 0]);
    expect(limiter.fail('a')).toBe(6);
    expect(limiter.fail('b')).toBe(0);
    clock.now += 6_000;
    expect(limiter.fail('a')).toBe(0);
    expect(limiter.drain()).toEqual([{ sourceIp: 'a', count: 1 }]);
    expect(limiter.drain()).toEqual([]);
  });

  it('keeps at most maxTrackedAddresses apart and at most maxSummaryRecords summaries, losing no count', () => {
    const { failures: limiter } = failures({ burst: 0, maxTrackedAddresses: 3, maxSummaryRecords: 2 });
    for (let address = 0; address < 10; address += 1)
      for (let call = 0; call <= address; call += 1) limiter.fail(`10.0.0.${address}`);
    const summaries = limiter.drain();
    expect(summaries).toHaveLength(2);
    expect(summaries[0]).toEqual({ sourceIp: '10.0.0.9', count: 10 });
    expect(summaries[1]).toMatchObject({ sourceIp: OTHER_ADDRESSES, addresses: 9 });
    expect(summaries.reduce((sum, summary) => sum + summary.count, 0)).toBe(55);
  });

  it('counts again what could not be written', () => {
    const { failures: limiter } = failures({ burst: 0 });
    limiter.fail('a');
    limiter.fail('a');
    const summaries = limiter.drain();
    limiter.restore(summaries);
    limiter.fail('a');
    expect(limiter.drain()).toEqual([{ sourceIp: 'a', count: 3 }]);
  });
});

describe('per /64', () => {
  it('one IPv6 host rotating through its /64 shares one budget', () => {
    const { failures: limiter } = failures({ burst: 2 });
    expect(limiter.fail('2001:db8:0:1::1')).toBe(0);
    expect(limiter.fail('2001:db8:0:1::2')).toBe(0);
    expect(limiter.fail('2001:db8:0:1::3')).toBeGreaterThan(0);
    expect(limiter.fail('2001:db8:0:2::1')).toBe(0);
    expect(limiter.drain()).toEqual([{ sourceIp: '2001:db8:0:1::/64', count: 1 }]);
  });
});
