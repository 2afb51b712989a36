import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { BlockList } from 'node:net';
import { resolveSourceIp } from '../traffic/source-ip.js';

export interface RequestVariables {
  requestId: string;
  sourceIp: string;
}

/**
 * Node's request and response are there when @hono/node-server serves the app, and absent under
 * `app.request()` (tests in memory) or another runtime: read them only through the adapters below.
 */
export type BrokerEnv = { Bindings: Partial<HttpBindings>; Variables: RequestVariables };

export function newRequestId(): string {
  return randomUUID();
}

/** Node's request, when the app is served by Node. */
export function nodeRequestOf(c: Context<BrokerEnv>): IncomingMessage | undefined {
  // `app.request()` without an env leaves c.env undefined, whatever its type says.
  return (c.env as Partial<HttpBindings> | undefined)?.incoming;
}

/**
 * The request target as the client sent it: Node's raw one, whose "." and ".." segments nothing has resolved
 * yet. A web Request only has its URL, which the URL parser resolved when the Request was made.
 */
export function requestTargetOf(c: Context<BrokerEnv>): string {
  const incoming = nodeRequestOf(c);
  if (incoming !== undefined) return incoming.url ?? '';
  const url = new URL(c.req.url);
  return `${url.pathname}${url.search}`;
}

/**
 * Sets a header every answer carries (handler, error or not-found). On Node's response, where it joins
 * whatever Hono answers at writeHead: through c.header() every response would also carry a web Headers
 * object, which costs on the hot path. Elsewhere through Hono, before any response is made.
 */
export function setResponseHeader(c: Context<BrokerEnv>, name: string, value: string): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing !== undefined) outgoing.setHeader(name, value);
  else c.header(name, value);
}

/** The client's address; X-Forwarded-For counts only from the configured trusted proxies. */
export function sourceIpOf(c: Context<BrokerEnv>, trustedProxies: BlockList | undefined): string {
  return resolveSourceIp(
    nodeRequestOf(c)?.socket?.remoteAddress,
    c.req.header('x-forwarded-for'),
    trustedProxies,
  );
}
