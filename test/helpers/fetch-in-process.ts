import { PassThrough } from 'node:stream';
import { fetchMain } from '../../src/cli/secrets-fetch-main.js';

export interface FetchRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs secrets-fetch in-process with `environment` and collects what it writes. */
export async function fetchInProcess(
  argv: readonly string[],
  environment: Readonly<Record<string, string>> = {},
): Promise<FetchRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  stdout.on('data', (chunk: Buffer) => chunks.stdout.push(chunk));
  stderr.on('data', (chunk: Buffer) => chunks.stderr.push(chunk));
  const code = await fetchMain(argv, { stdout, stderr, environment: { ...environment } });
  return {
    code,
    stdout: Buffer.concat(chunks.stdout).toString('utf8'),
    stderr: Buffer.concat(chunks.stderr).toString('utf8'),
  };
}
