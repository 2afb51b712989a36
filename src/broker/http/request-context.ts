import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { BlockList } from 'node:net';
import { resolveSourceIp } from '../traffic/source-ip.js';

export interface RequestVariables {
  requestId: string;
  sourceIp: string;
}

export type BrokerEnv = { Bindings: HttpBindings; Variables: RequestVariables };

export function newRequestId(): string {
  return randomUUID();
}

/** The client's address; X-Forwarded-For counts only from the configured trusted proxies. */
export function sourceIpOf(c: Context<BrokerEnv>, trustedProxies: BlockList | undefined): string {
  return resolveSourceIp(
    c.env?.incoming?.socket?.remoteAddress,
    c.req.header('x-forwarded-for'),
    trustedProxies,
  );
}
