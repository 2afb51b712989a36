/** Runs the secrets-broker CLI in-process, as a user would from a shell, and captures what it prints. */
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { BrokerHarness } from './broker-harness.js';

export interface CliRun {
  readonly args: readonly string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly stdin?: string;
  readonly environment?: Record<string, string>;
}

export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await main([...args], {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: new PassThrough().on('data', (chunk: Buffer) => out.push(chunk)),
    stderr: new PassThrough().on('data', (chunk: Buffer) => err.push(chunk)),
    environment: options.environment ?? {},
  });
  return { args, code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** The environment that points the admin CLI at a harness's broker as its owner. */
export function adminEnvironment(harness: BrokerHarness): Record<string, string> {
  return { SECRETS_BROKER_URL: harness.url, SECRETS_BROKER_ADMIN_TOKEN: harness.adminToken };
}
