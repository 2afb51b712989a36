/** The client address behind trusted proxies, and the block per-address limits count it in. */
import { describe, expect, it } from 'vitest';
import {
  addressBlock,
  parseTrustedProxies,
  resolveSourceIp,
  unknownClientVia,
} from '../../src/broker/traffic/source-ip.js';

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

  it('counts an unknown client behind a trusted proxy in the proxy budget (as the proxy address was before)', () => {
    expect(addressBlock(unknownClientVia('10.0.0.5'))).toBe('10.0.0.5');
    expect(addressBlock(unknownClientVia('2001:db8:0:1::5'))).toBe('2001:db8:0:1::/64');
    // Only the form unknownClientVia writes names a proxy.
    expect(addressBlock('unknown (via nothing)')).toBe('unknown (via nothing)');
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

  it('when the hop to take is not an address, the client is unknown (never the trusted proxy itself)', () => {
    // A proxy inside an allowed range must not lend its address to a client it could not name. An address left
    // of the unknown hop was written before it and proves nothing.
    const cases: [string, string, string][] = [
      ['10.0.0.5', 'unknown', '10.0.0.5'],
      ['10.0.0.5', '198.51.100.1, unknown', '10.0.0.5'],
      ['10.0.0.5', '203.0.113.7, unknown, 10.1.1.1', '10.0.0.5'],
      ['10.0.0.5', '198.51.100.1:4711', '10.0.0.5'],
      ['10.0.0.5', '', '10.0.0.5'],
      ['::ffff:10.0.0.5', '_hidden', '10.0.0.5'],
      ['::1', 'unknown', '::1'],
    ];
    for (const [peer, forwardedFor, proxy] of cases)
      expect(resolveSourceIp(peer, forwardedFor, trusted), forwardedFor).toBe(`unknown (via ${proxy})`);
  });

  it('still ignores the header from an untrusted peer, or without trusted proxies', () => {
    expect(resolveSourceIp('203.0.113.9', 'unknown', trusted)).toBe('203.0.113.9');
    expect(resolveSourceIp('10.0.0.5', 'unknown', undefined)).toBe('10.0.0.5');
    expect(resolveSourceIp(undefined, undefined, trusted)).toBe('unknown');
  });
});
