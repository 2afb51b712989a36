import type { Server } from 'node:net';
import type { BlockList } from 'node:net';
import { addressBlock, isTrustedProxy, normaliseAddress } from '../traffic/source-ip.js';

/**
 * Open connections one address (IPv6: one /64) may hold at once; more are closed as they are accepted. Without
 * it one address could hold every connection the server takes, each costing no more than a byte every few
 * seconds, and nobody else would get in. Trusted proxies carry many clients and are not counted.
 */
export function limitConnectionsPerAddress(
  server: Server,
  max: number,
  trusted: BlockList | undefined,
): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const peer = normaliseAddress(socket.remoteAddress ?? 'unknown');
    if (trusted !== undefined && isTrustedProxy(trusted, peer)) return;
    const block = addressBlock(peer);
    const count = (open.get(block) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(block, count);
    socket.once('close', () => {
      const left = (open.get(block) ?? 1) - 1;
      if (left <= 0) open.delete(block);
      else open.set(block, left);
    });
  });
}
