import type { z } from 'zod';
import { brokerUrlProblem, normalBrokerUrl } from '../client/broker-url.js';
import { ADMIN_API_PATH } from '../protocol/admin-api.js';
import { boundedRequest, BoundedRequestError, type BoundedResponse } from '../protocol/bounded-request.js';
import { printable } from '../protocol/printable.js';
import { parseProblem } from '../protocol/wire-shapes.js';
import { CliError } from './cli-error.js';

type Environment = Readonly<Record<string, string | undefined>>;
/** Audit pages of 1000 records are the largest answers; far below this. */
const MAX_ADMIN_RESPONSE_BYTES = 32 * 1024 * 1024;
export const DEFAULT_BROKER_URL = 'http://127.0.0.1:8080';

/**
 * An admin API path from its segments, each percent-encoded on its own: a name or id can never add a segment,
 * climb with "..", or start a query. Query strings are built with URLSearchParams.
 */
export function adminPath(...segments: readonly string[]): string {
  for (const segment of segments) {
    // Even encoded, "." and ".." are dot segments that a URL parser removes with the segment before them.
    if (segment === '' || segment === '.' || segment === '..')
      throw new Error(`an admin path segment cannot be ${JSON.stringify(segment)}`);
  }
  return segments.map((segment) => `/${encodeURIComponent(segment)}`).join('');
}

/** Calls the admin API at SECRETS_BROKER_URL with SECRETS_BROKER_ADMIN_TOKEN; problems become CliErrors. */
export class AdminClient {
  private readonly baseUrl: string;
  private readonly token: string;

  constructor(environment: Environment) {
    const url = environment.SECRETS_BROKER_URL || DEFAULT_BROKER_URL;
    // The admin token goes to this address with every call: never in clear over a network.
    const urlProblem = brokerUrlProblem(url);
    if (urlProblem !== undefined) {
      throw new CliError(
        `SECRETS_BROKER_URL ${printable(urlProblem)}; nothing was sent`,
        "set it to the broker's https:// address (TLS in front of it), or run the CLI on the broker's host against http://127.0.0.1:PORT: the admin token must not cross a network in clear",
      );
    }
    this.baseUrl = normalBrokerUrl(url);
    const token = environment.SECRETS_BROKER_ADMIN_TOKEN;
    if (token === undefined || token === '') {
      throw new CliError(
        'SECRETS_BROKER_ADMIN_TOKEN is not set',
        'export it with the owner token the broker printed on its first start (or one from "secrets-broker token create")',
      );
    }
    this.token = token;
  }

  /**
   * Calls the admin API and parses its answer with `answer`, the route's schema in protocol/admin-api.ts: an
   * answer of another shape is an error, never a value the CLI guesses at.
   */
  async request<S extends z.ZodType>(
    method: string,
    path: string,
    answer: S,
    body?: unknown,
  ): Promise<z.infer<S>> {
    let response: BoundedResponse;
    try {
      response = await boundedRequest(`${this.baseUrl}${ADMIN_API_PATH}${path}`, {
        what: 'the admin API',
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: 30_000,
        maxBytes: MAX_ADMIN_RESPONSE_BYTES,
      });
    } catch (error) {
      if (!(error instanceof BoundedRequestError)) throw error;
      if (error.reason !== 'network') throw new CliError(error.message);
      throw new CliError(
        `cannot reach the broker at ${printable(this.baseUrl)} (${printable(error.systemCode ?? error.message)})`,
        'is "secrets-broker serve" running there? Set SECRETS_BROKER_URL to its address',
      );
    }
    const text = response.body.toString('utf8');
    const ok = response.status >= 200 && response.status < 300;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(
        `the broker at ${printable(this.baseUrl)} answered HTTP ${response.status} with a body that is not JSON`,
      );
    }
    if (!ok) {
      const problem = parseProblem(json);
      // The broker's texts can quote what a client sent (a name, a label): one escaped line each.
      if (problem !== undefined)
        throw new CliError(
          `${printable(problem.detail)} (${printable(problem.code)})`,
          problem.hint === undefined ? undefined : printable(problem.hint),
        );
      throw new CliError(`the broker answered HTTP ${response.status}`);
    }
    const parsed = answer.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where =
        issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.map(String).join('.')}`;
      throw new CliError(
        `the broker at ${printable(this.baseUrl)} answered ${method} ${printable(path)} with JSON that is not the admin API's answer${where}: ${printable(issue?.message ?? 'unexpected shape')}`,
        "the broker and this CLI may be of different versions; use the CLI of the broker's version",
      );
    }
    return parsed.data;
  }
}
