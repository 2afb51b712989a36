/** The client address behind trusted proxies, and the block per-address limits count it in. */
import { describe, expect, it } from 'vitest';
import { addressBlock, parseTrustedProxies, resolveSourceIp } from '../../src/broker/traffic/source-ip.js';

describe('addressBlock', () => {
  it('is the address for IPv4 and the /64 for IPv6, however it is written', () => {
    expect(addressBlock('192.0.2.7')).toBe('192.0.2.7');
    expect(addressBlock('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressBlock('2001:DB8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(addressBlock('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBlock('::1')).toBe('0:0:0:0::/64');
    expect(addressBlock('::ffff:192.0.2.7')).toBe('0:0:0:0::/64');
    expect(addressBlock('1::2:3:4:5:192.0.2.7')).toBe('1:0:2:3::/64');
    expect(addressBlock('unknown')).toBe('unknown');
  });
});

describe('resolveSourceIp', () => {
  const trusted = parseTrustedProxies('10.0.0.0/8, ::1');

  it('believes X-Forwarded-For only from a trusted peer, and takes its rightmost untrusted hop', () => {
    expect(resolveSourceIp('203.0.113.9', '198.51.100.1', trusted)).toBe('203.0.113.9');
    expect(resolveSourceIp('10.0.0.5', '198.51.100.1, 203.0.113.7, 10.1.1.1', trusted)).toBe('203.0.113.7');
    expect(resolveSourceIp('10.0.0.5', '198.51.100.1', undefined)).toBe('10.0.0.5');
  });

  it('when every hop is trusted, takes the rightmost (written by the proxy next to us), never the leftmost', () => {
    // A client inside the trusted range writes its own first hop: it must not choose its address.
    expect(resolveSourceIp('10.0.0.5', '10.77.1.2, 10.3.3.3', trusted)).toBe('10.3.3.3');
    expect(resolveSourceIp('10.0.0.5', '10.77.1.2', trusted)).toBe('10.77.1.2');
  });
});
