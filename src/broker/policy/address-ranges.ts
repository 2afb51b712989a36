/** `when.source_ips`: CIDR ranges (IPv4 and IPv6) as a policy writes them, checked with node:net's BlockList. */
import { BlockList, isIP } from 'node:net';
import { quoted } from '../../protocol/quoted.js';
import { normaliseAddress } from '../traffic/source-ip.js';

/** One written range: the text, or why it is refused (with how to fix it). */
export type RangeParse =
  | { readonly ok: true; readonly address: string; readonly prefix: number; readonly family: 4 | 6 }
  | { readonly ok: false; readonly message: string };

const PREFIX = /^\d{1,3}$/;

/** The 4 or 16 bytes of a valid address (isIP already said yes). */
function addressBytes(address: string, family: 4 | 6): number[] {
  if (family === 4) return address.split('.').map(Number);
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groupsOf = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [a * 256 + b, c * 256 + d];
        });
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

function formatBytes(bytes: readonly number[], family: 4 | 6): string {
  if (family === 4) return bytes.join('.');
  const groups = Array.from(
    { length: 8 },
    (_, index) => (bytes[2 * index] ?? 0) * 256 + (bytes[2 * index + 1] ?? 0),
  );
  // The longest run of zero groups (two or more) is written "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start += 1) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length += 1;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The bytes with every bit after the first `prefix` cleared. */
function networkOf(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((byte, index) => {
    const kept = Math.min(8, Math.max(0, prefix - index * 8));
    return byte & ((0xff << (8 - kept)) & 0xff);
  });
}

function isIpv4Mapped(bytes: readonly number[]): boolean {
  return bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * "10.0.0.0/8", "2001:db8::/32", or one address ("192.0.2.7", "2001:db8::7"). Refused: a prefix beyond the
 * family's length, host bits set after the prefix ("10.0.0.1/8" is ambiguous: one host or the /8?), zone ids,
 * and IPv4-mapped IPv6 ranges (client addresses are compared in IPv4 form). Other IPv6 ranges that cover the
 * mapped block ("::/0", "::/64") are accepted: they hold for IPv6 clients only, never for an IPv4 one.
 */
export function parseRange(text: string): RangeParse {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const ipFamily = isIP(address);
  const shown = quoted(text);
  if (ipFamily === 0 || address.includes('%')) {
    return {
      ok: false,
      message: `${shown} is not an IP address or CIDR range; write ranges such as 10.0.0.0/8 or 2001:db8::/32`,
    };
  }
  const family = ipFamily === 4 ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  if (prefixText !== undefined && (!PREFIX.test(prefixText) || Number(prefixText) > bits)) {
    return {
      ok: false,
      message: `${shown} has a bad prefix length: an IPv${family} prefix is a number from 0 to ${bits}`,
    };
  }
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  const bytes = addressBytes(address, family);
  if (family === 6 && isIpv4Mapped(bytes)) {
    return {
      ok: false,
      message: `${shown} is an IPv4-mapped IPv6 range; write it in IPv4 form (such as 10.0.0.0/8): the broker compares IPv4 clients in IPv4 form, also when they reach it over IPv6`,
    };
  }
  const network = networkOf(bytes, prefix);
  if (network.some((byte, index) => byte !== bytes[index])) {
    const networkText = `${formatBytes(network, family)}/${prefix}`;
    return {
      ok: false,
      message: `${shown} has bits set after the /${prefix} prefix; write ${networkText} for the whole range, or ${address}/${bits} for the one address`,
    };
  }
  return { ok: true, address, prefix, family };
}

/**
 * The ranges, one BlockList per address family. One list for both would compare an IPv4 client with the IPv6
 * ranges in its ::ffff:a.b.c.d form, so "::/0" (any IPv6 client) would also admit every IPv4 client.
 */
export interface AddressRanges {
  readonly ipv4: BlockList;
  readonly ipv6: BlockList;
}

/** The ranges (each already accepted by parseRange), filed by family. */
export function rangeList(ranges: readonly Extract<RangeParse, { ok: true }>[]): AddressRanges {
  const lists = { ipv4: new BlockList(), ipv6: new BlockList() };
  for (const range of ranges) {
    const type = range.family === 4 ? 'ipv4' : 'ipv6';
    lists[type].addSubnet(range.address, range.prefix, type);
  }
  return lists;
}

/**
 * The client address as ranges compare it: an IPv4-mapped IPv6 address (however written: ::ffff:10.0.0.1,
 * ::ffff:a00:1) is its IPv4 address; undefined when the text is not an address (the client address is unknown).
 */
export function comparedAddress(sourceIp: string): { address: string; family: 4 | 6 } | undefined {
  const address = normaliseAddress(sourceIp);
  const family = isIP(address);
  if (family === 0) return undefined;
  if (family === 4) return { address, family };
  const bytes = addressBytes(address.split('%')[0] ?? '', 6);
  return isIpv4Mapped(bytes)
    ? { address: formatBytes(bytes.slice(12), 4), family: 4 }
    : { address, family: 6 };
}

/** Whether the client address is in one of the ranges of its own family; never for an unknown address. */
export function rangesInclude(ranges: AddressRanges, sourceIp: string): boolean {
  const client = comparedAddress(sourceIp);
  if (client === undefined) return false;
  return client.family === 4
    ? ranges.ipv4.check(client.address, 'ipv4')
    : ranges.ipv6.check(client.address, 'ipv6');
}
