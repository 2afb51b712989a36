import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';

export interface RequestVariables {
  requestId: string;
  sourceIp: string;
}

export type BrokerEnv = { Bindings: HttpBindings; Variables: RequestVariables };

export function newRequestId(): string {
  return randomUUID();
}

/** The TCP peer's address. (Behind a proxy this is the proxy; trusting forwarded headers is a later, explicit setting.) */
export function sourceIpOf(c: Context<BrokerEnv>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
