import { printable } from '../protocol/printable.js';
import { problemSchema } from '../protocol/wire.js';
import { CliError } from './cli-error.js';

type Environment = Readonly<Record<string, string | undefined>>;
export const DEFAULT_BROKER_URL = 'http://127.0.0.1:8080';

/** Calls the admin API at SECRETS_BROKER_URL with SECRETS_BROKER_ADMIN_TOKEN; problems become CliErrors. */
export class AdminClient {
  private readonly baseUrl: string;
  private readonly token: string;

  constructor(environment: Environment) {
    this.baseUrl = (environment.SECRETS_BROKER_URL || DEFAULT_BROKER_URL).replace(/\/+$/, '');
    const token = environment.SECRETS_BROKER_ADMIN_TOKEN;
    if (token === undefined || token === '') {
      throw new CliError(
        'SECRETS_BROKER_ADMIN_TOKEN is not set',
        'export it with the owner token the broker printed on its first start (or one from "secrets-broker token create")',
      );
    }
    this.token = token;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/v1/admin${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const code = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(
        `cannot reach the broker at ${printable(this.baseUrl)} (${printable(code)})`,
        'is "secrets-broker serve" running there? Set SECRETS_BROKER_URL to its address',
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(
        `the broker at ${printable(this.baseUrl)} answered HTTP ${response.status} with a body that is not JSON`,
      );
    }
    if (!response.ok) {
      const problem = problemSchema.safeParse(json);
      // The broker's texts can quote what a client sent (a name, a label): one escaped line each.
      if (problem.success)
        throw new CliError(
          `${printable(problem.data.detail)} (${printable(problem.data.code)})`,
          problem.data.hint === undefined ? undefined : printable(problem.data.hint),
        );
      throw new CliError(`the broker answered HTTP ${response.status}`);
    }
    return json as T;
  }
}
