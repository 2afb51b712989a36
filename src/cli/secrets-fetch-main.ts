import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { brokerUrlProblem } from '../client/broker-url.js';
import { fetchSecrets } from '../client/exchange-client.js';
import { planExports, type ExportItem } from '../client/export-plan.js';
import { failureMessage } from '../client/failure-message.js';
import {
  formatDotenv,
  formatGithubEnv,
  formatJson,
  formatShell,
  OUTPUT_FORMATS,
  type OutputFormat,
} from '../client/formats.js';
import { checkPathFree, writeNewPrivateFile } from '../client/private-files.js';
import { Redactor, redactionPatterns } from '../client/redactor.js';
import { InputError, parseSecretLines } from '../client/secret-lines.js';
import { resolveTokenSource } from '../client/token-sources.js';
import { printable, printableLines } from '../protocol/printable.js';

export interface FetchIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly environment: Readonly<Record<string, string | undefined>>;
}

const USAGE = `usage:
  secrets-fetch --broker URL --secret NAME... [--audience A] [--token-env VAR... | --token-file F]
                [--format dotenv|json|shell|github-env] [--out FILE] [--retries N] [--timeout-seconds S]
  secrets-fetch exec --broker URL --secret NAME... [same options] -- COMMAND [ARG...]

--secret takes NAME, ENV=NAME or PREFIX/* (a trailing ? makes it optional); repeat it for more.
Without --token-env or --token-file, the token comes from the GitHub runner or the GitLab component's id_tokens.`;

const OPTIONS = {
  broker: { type: 'string' },
  secret: { type: 'string', multiple: true },
  audience: { type: 'string' },
  'token-env': { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  retries: { type: 'string' },
  'timeout-seconds': { type: 'string' },
  help: { type: 'boolean' },
} as const;

class UsageError extends Error {}

/**
 * Every line secrets-fetch itself writes to stderr: escaped, so an argument, a path or a broker's answer cannot
 * reach the terminal as a control sequence. Lines joined on purpose stay lines.
 */
function tell(io: FetchIo, text: string): void {
  io.stderr.write(`secrets-fetch: ${printableLines(text)}\n`);
}

function wholeNumber(text: string | undefined, name: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > max)
    throw new UsageError(`--${name} must be a whole number from 0 to ${max}`);
  return Number(text);
}

/** Runs secrets-fetch; returns the exit code. Values only ever go to stdout, --out or the command's environment. */
export async function fetchMain(argv: readonly string[], io: FetchIo): Promise<number> {
  const separator = argv.indexOf('--');
  const optionArgs = separator === -1 ? [...argv] : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  try {
    const { values, positionals } = parseArgs({
      args: optionArgs,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const exec = positionals[0] === 'exec';
    if (positionals.length > (exec ? 1 : 0))
      throw new UsageError(`unexpected argument "${positionals[exec ? 1 : 0]}"`);
    if (exec && command.length === 0) throw new UsageError('exec needs a command after "--"');
    if (!exec && command.length > 0)
      throw new UsageError('a command after "--" needs the exec verb: secrets-fetch exec ... -- COMMAND');
    const broker = values.broker;
    if (broker === undefined) throw new UsageError('--broker URL is required');
    const brokerProblem = brokerUrlProblem(broker);
    if (brokerProblem !== undefined) throw new UsageError(`--broker ${brokerProblem}`);
    const format = (values.format ?? 'dotenv') as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format))
      throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
    const lines = parseSecretLines((values.secret ?? []).join('\n'));
    if (lines.some((line) => line.toFile))
      throw new InputError('ENV=@NAME is for the GitHub Action; write a file with --out instead');
    // Checked before a token is spent: --out must name a path where nothing exists yet.
    // No directory on the way to it below the current directory may be a symbolic link.
    const base = process.cwd();
    const out = exec || values.out === undefined ? undefined : resolve(values.out);
    if (out !== undefined) await checkPathFree(out, base);
    const audience = values.audience ?? broker;
    const tokens = await resolveTokenSource(
      { tokenEnv: values['token-env'] ?? [], tokenFile: values['token-file'], audience },
      io.environment,
    );
    const released = await fetchSecrets({
      brokerUrl: broker,
      entries: lines.map((line) => line.entry.raw),
      getToken: (remainingMs) => tokens.next(remainingMs),
      timeoutMs: wholeNumber(values['timeout-seconds'], 'timeout-seconds', 30, 600) * 1000,
      retries: wholeNumber(values.retries, 'retries', 3, 10),
      onRetry: ({ attempt, delayMs, reason }) =>
        tell(io, `${printable(reason)}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
    });
    const items = planExports(lines, released.secrets);
    tell(
      io,
      `released ${items.map((item) => `${printable(item.secretName)} v${item.version} as ${item.envName}`).join(', ') || 'nothing'}`,
    );
    if (exec) return await runRedacted(command, items, io);
    const text = render(format, items);
    if (out !== undefined) await writeNewPrivateFile(out, text, { base });
    else io.stdout.write(text);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // Node's parseArgs quotes the unknown option as it was given.
      tell(io, printable((error as Error).message));
      io.stderr.write(`${USAGE}\n`);
      return 2;
    }
    tell(io, failureMessage(error));
    return 1;
  }
}

function render(format: OutputFormat, items: readonly ExportItem[]): string {
  const values = items.map((item) => ({ name: item.envName, value: item.value }));
  switch (format) {
    case 'json':
      return formatJson(values);
    case 'shell':
      return formatShell(values);
    case 'github-env':
      return formatGithubEnv(values, () => `ghadelimiter_${randomUUID()}`);
    default:
      return formatDotenv(values);
  }
}

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Runs the command with the secrets added to its environment only, streams its stdout and stderr through a
 * redactor each, forwards signals, and ends with its exit code (128 + signal number when a signal killed it).
 */
async function runRedacted(
  command: readonly string[],
  items: readonly ExportItem[],
  io: FetchIo,
): Promise<number> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(io.environment))
    if (value !== undefined) environment[name] = value;
  for (const item of items) environment[item.envName] = item.value;
  const redactor = new Redactor(redactionPatterns(items.map((item) => item.value)));
  const child = spawn(command[0] as string, command.slice(1), {
    env: environment,
    stdio: ['inherit', 'pipe', 'pipe'],
  });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  const piped = [
    new Promise((done) =>
      child.stdout.pipe(redactor.stream()).on('end', done).pipe(io.stdout, { end: false }),
    ),
    new Promise((done) =>
      child.stderr.pipe(redactor.stream()).on('end', done).pipe(io.stderr, { end: false }),
    ),
  ];
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (resolveExit, reject) => {
        child.once('error', reject);
        child.once('close', (exitCode, exitSignal) => resolveExit([exitCode, exitSignal]));
      },
    );
    await Promise.all(piped);
    if (signal !== null) {
      tell(io, `the command was killed by ${signal}`);
      return 128 + (constants.signals[signal] ?? 0);
    }
    return code ?? 1;
  } catch (error) {
    throw new Error(
      `cannot run ${command[0] as string}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
