import { CodedError } from '../../protocol/coded-error.js';
import { BlockList, isIP } from 'node:net';

export class TrustProxyError extends CodedError {
  readonly code: string = 'trust_proxy_invalid';
  override name = 'TrustProxyError';
}

/** Parses "127.0.0.1, 10.0.0.0/8, ::1" (the proxies whose X-Forwarded-For is believed). */
export function parseTrustedProxies(text: string): BlockList {
  const list = new BlockList();
  for (const entry of text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address);
    if (family === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      throw new TrustProxyError(
        `trust-proxy entry "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8)`,
      );
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function isTrustedProxy(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const UNKNOWN_VIA = 'unknown (via ';

/**
 * The client address when a trusted proxy forwarded a hop that is not an address ("unknown", a port, nothing):
 * not an address, so no `when.source_ips` range holds for it, yet it names the proxy, whose budget it counts in.
 */
export function unknownClientVia(proxy: string): string {
  return `${UNKNOWN_VIA}${proxy})`;
}

/** The proxy an unknown client address came through (see unknownClientVia), if it names one. */
function proxyOfUnknownClient(sourceIp: string): string | undefined {
  if (!sourceIp.startsWith(UNKNOWN_VIA) || !sourceIp.endsWith(')')) return undefined;
  const proxy = sourceIp.slice(UNKNOWN_VIA.length, -1);
  return isIP(proxy) === 0 ? undefined : proxy;
}

/**
 * The client's address: the TCP peer, or, when the peer is a trusted proxy, the rightmost address in
 * X-Forwarded-For that is not itself a trusted proxy (the rightmost of all when every one is). Without trusted
 * proxies the header is ignored. When the hop to take is not an address, the client is unknown (never the
 * proxy's own address, which a `when.source_ips` range may hold).
 */
export function resolveSourceIp(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: BlockList | undefined,
): string {
  const address = peer === undefined ? 'unknown' : normaliseAddress(peer);
  if (trusted === undefined || forwardedFor === undefined || !isTrustedProxy(trusted, address))
    return address;
  const hops = forwardedFor.split(',').map((hop) => normaliseAddress(hop.trim()));
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] as string;
    if (isIP(hop) === 0) return unknownClientVia(address);
    if (!isTrustedProxy(trusted, hop)) return hop;
  }
  // Every hop is a trusted proxy: the rightmost was written by the proxy next to us, so no client chose it.
  return hops[hops.length - 1] ?? address;
}

/**
 * The address a budget belongs to: an IPv4 address, or the /64 of an IPv6 one (a single host usually holds a whole
 * /64, so per-address budgets would let it rotate through 2^64 of them). An unknown client behind a trusted proxy
 * counts in the proxy's budget.
 */
export function addressBlock(sourceIp: string): string {
  const proxy = proxyOfUnknownClient(sourceIp);
  if (proxy !== undefined) return addressBlock(proxy);
  if (isIP(sourceIp) !== 6) return sourceIp;
  const [head = '', tail] = sourceIp.toLowerCase().split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // A trailing dotted IPv4 part stands for two groups.
  const written = left.length + right.length + (sourceIp.includes('.') ? 1 : 0);
  const groups = tail === undefined ? left : [...left, ...Array(8 - written).fill('0'), ...right];
  const prefix = groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, ''));
  return `${prefix.join(':')}::/64`;
}
