/** `when.source_ips` ranges: each address family is compared only with ranges of its own family. */
import { describe, expect, it } from 'vitest';
import {
  comparedAddress,
  parseRange,
  rangeList,
  rangesInclude,
  type AddressRanges,
} from '../../src/broker/policy/address-ranges.js';

function ranges(...texts: string[]): AddressRanges {
  return rangeList(
    texts.map((text) => {
      const range = parseRange(text);
      if (!range.ok) throw new Error(range.message);
      return range;
    }),
  );
}

describe('IPv6 ranges and IPv4 clients', () => {
  it('an IPv6 range that covers ::ffff:0:0/96 holds for no IPv4 client, however it is written', () => {
    for (const range of ['::/0', '::/64', '::/80', '::/1']) {
      const list = ranges(range);
      for (const client of ['203.0.113.9', '::ffff:203.0.113.9', '::FFFF:203.0.113.9', '::ffff:cb00:7109'])
        expect(rangesInclude(list, client), `${range} for ${client}`).toBe(false);
      expect(rangesInclude(list, '::1'), `${range} for ::1`).toBe(true);
    }
  });

  it('"office IPv4, any IPv6" admits the office and IPv6, not the rest of IPv4', () => {
    const list = ranges('10.0.0.0/8', '::/0');
    expect(rangesInclude(list, '10.1.2.3')).toBe(true);
    expect(rangesInclude(list, '::ffff:10.1.2.3')).toBe(true);
    expect(rangesInclude(list, '2001:db8::5')).toBe(true);
    expect(rangesInclude(list, '203.0.113.9')).toBe(false);
    expect(rangesInclude(list, '::ffff:203.0.113.9')).toBe(false);
  });

  it('IPv4 ranges hold for IPv4-mapped clients in any spelling, and for no other IPv6 client', () => {
    const list = ranges('0.0.0.0/0');
    for (const client of ['1.2.3.4', '::ffff:1.2.3.4', '::FFFF:1.2.3.4', '0:0:0:0:0:ffff:102:304'])
      expect(rangesInclude(list, client), client).toBe(true);
    // ::1.2.3.4 is the (deprecated) IPv4-compatible form: an IPv6 address.
    for (const client of ['::1', '::1.2.3.4', '64:ff9b::102:304', '2001:db8::1'])
      expect(rangesInclude(list, client), client).toBe(false);
  });

  it('an IPv4-mapped range is still refused at load, with the IPv4 spelling to write', () => {
    const range = parseRange('::ffff:10.0.0.0/104');
    expect(range.ok).toBe(false);
    expect(!range.ok && range.message).toContain('write it in IPv4 form');
  });
});

describe('comparedAddress', () => {
  it('is the IPv4 address for a mapped client, the address otherwise, undefined when not an address', () => {
    expect(comparedAddress('::ffff:cb00:7109')).toEqual({ address: '203.0.113.9', family: 4 });
    expect(comparedAddress('::ffff:203.0.113.9')).toEqual({ address: '203.0.113.9', family: 4 });
    expect(comparedAddress('2001:db8::1')).toEqual({ address: '2001:db8::1', family: 6 });
    expect(comparedAddress('192.0.2.7')).toEqual({ address: '192.0.2.7', family: 4 });
    for (const unknown of ['unknown', 'unknown (via 10.0.0.5)', '', '10.0.0.1:8080'])
      expect(comparedAddress(unknown), unknown).toBeUndefined();
  });

  it('an unknown client address is in no range, not even 0.0.0.0/0 and ::/0', () => {
    const list = ranges('0.0.0.0/0', '::/0');
    for (const unknown of ['unknown', 'unknown (via 10.0.0.5)', 'unknown (via ::1)'])
      expect(rangesInclude(list, unknown), unknown).toBe(false);
  });
});
