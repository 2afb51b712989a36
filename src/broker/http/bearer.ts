import type { Context } from 'hono';

/**
 * The credential of the request's "Authorization: Bearer <credential>" header; undefined when the header is
 * missing or not that. The one reading of the header: each route says in its own words what it expected.
 */
export function bearerCredential(c: Context): string | undefined {
  return /^Bearer[ ]+(\S+)[ ]*$/i.exec(c.req.header('authorization') ?? '')?.[1];
}
