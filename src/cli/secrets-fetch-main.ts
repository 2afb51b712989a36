import { CodedError } from '../protocol/coded-error.js';
import { randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { brokerUrlProblem, normalBrokerUrl } from '../client/broker-url.js';
import { CLIENT_VERSION } from '../client/client-version.js';
import { brokerInfoOnce } from '../client/broker-calls.js';
import { parseKeyBindingChoice } from '../client/key-binding.js';
import { resolveCommand } from '../client/command-path.js';
import { fetchSecrets, type RetryNotice } from '../client/exchange-client.js';
import { fallbackNotes, planExports, type ExportItem } from '../client/export-plan.js';
import { failureMessage, type ClientWording } from '../client/failure-message.js';
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
import { listSecrets, type ListedSecret } from '../client/list-client.js';
import { putOutputs, type PutOutputsResult, type StoredOutput } from '../client/output-client.js';
import { parseOutputFlags, readOutputValues } from '../client/output-lines.js';
import { parseOutputTtl, RUN_OUTPUT_PREFIX, type OutputPayload } from '../protocol/wire-shapes.js';
import { InputError, parseListFlags, parseSecretFlags, type SecretLine } from '../client/secret-lines.js';
import type { RequestedEntry } from '../protocol/secret-names.js';
import { resolveTokenSource, type TokenSource } from '../client/token-sources.js';
import { printable, printableLines } from '../protocol/printable.js';

export interface FetchIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly environment: Readonly<Record<string, string | undefined>>;
}

const USAGE = `usage:
  secrets-fetch --broker URL --secret ENTRY... [options]
  secrets-fetch exec --broker URL --secret ENTRY... [options] -- COMMAND [ARG...]
  secrets-fetch list --broker URL [--secret PATTERN...] [--json] [options]
  secrets-fetch put --broker URL --output NAME[=ENV_VAR]... [--ttl DURATION] [--json] [options]
  secrets-fetch --help | --version`;

const HELP = `${USAGE}

Gets secrets from a secrets broker with this CI job's OIDC ID token and prints them, or (exec) runs COMMAND with
them in its environment only, every value (each line of a multi-line one, and its hex, base64, base64url and
URL-encoded forms) replaced by *** in the command's output. list prints the secrets this job may read and that
are stored, one NAME VERSION a line (current versions, sorted by name), and fetches no value; the broker spends
the token as for a fetch. put hands values of its environment to later jobs of the same CI run (a GitHub
workflow run, a GitLab pipeline): each sealed to the broker's run-output key, then sent with a token of its own;
a later job reads NAME as the entry run/NAME. Values are read from the environment only, never from arguments.

options:
  --broker URL           the broker's address: https://, or http:// on 127.0.0.1, localhost or [::1] (required)
  --secret ENTRY         NAME, ENV=NAME or PREFIX/*; a trailing ? makes it optional; NAME@3 asks for version 3,
                         a|b for the first of a and b that is granted and stored (ENV=a|b names its variable,
                         needed unless a and b end in the same segment); repeat it for each entry (required;
                         with list: names or patterns to narrow the list to, optional)
  --output NAME[=ENV]    with put: the output NAME takes the value of the environment variable ENV (default:
                         the variable NAME); repeat it for each output, 1 to 20 (required with put)
  --ttl DURATION         with put: how long the outputs live, 90s, 10m, 6h, 1d or combined (1h30m), 1m to
                         24h (default: the broker's, 6h)
  --audience A           the audience secrets-fetch requests ID tokens with from the GitHub runner
                         (default: the --broker URL, without a trailing slash)
  --key-binding B        auto, on or off: bind each token to this run's fresh key, so a token that leaks before
                         use is worth nothing to anyone else; only tokens secrets-fetch requests itself (the
                         GitHub runner's) can be bound (default: auto, which binds those)
  --token-env VAR        take a token from the variable VAR; repeat it for one token per attempt
                         (default: the GitHub runner's token endpoint, else the GitLab component's
                         SECRETS_ACTION_ID_TOKEN_1..3)
  --token-file FILE      take one token from FILE (default: as for --token-env)
  --format F             dotenv, json, shell or github-env (default: dotenv)
  --out FILE             write to FILE, a new file of mode 0600, not to stdout (default: stdout; not with exec)
  --retries N            retries after network errors, 429 and 5xx answers, 0 to 10, each with a fresh token
                         (default: 3)
  --timeout-seconds S    give up after S seconds, retries included, 1 to 600 (default: 30)
  --json                 with list: print a JSON array of {"name", "version"} instead of lines; with put: print
                         {"request_id", "outputs": [{"name", "expires_at"}]} instead of lines
  --version              print the version
  --help                 print this help

formats:
  dotenv      NAME='value' lines that the dotenv package, node --env-file and \`set -a; . FILE\` read back
              exactly; a value none of them can carry is refused, naming the secret
  shell       export NAME='value' lines for eval or . in sh, bash or zsh
  json        one JSON object, NAME: value
  github-env  NAME<<DELIMITER blocks for GitHub's GITHUB_ENV file

exit status: 0 done; 1 the fetch, the put or the output failed; 2 a usage error (nothing was fetched or put,
a variable of put unset or empty included); with exec, the
command's own status, 128 + N when signal N ended it, 127 when COMMAND is not found and 126 when it is not an
executable file (both found out before any token is spent).`;

const OPTIONS = {
  broker: { type: 'string' },
  secret: { type: 'string', multiple: true },
  output: { type: 'string', multiple: true },
  ttl: { type: 'string' },
  audience: { type: 'string' },
  'key-binding': { type: 'string' },
  'token-env': { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  retries: { type: 'string' },
  'timeout-seconds': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
  version: { type: 'boolean' },
} as const;

class UsageError extends CodedError {
  readonly code = 'usage';
}

/**
 * Every line secrets-fetch itself writes to stderr: escaped, so an argument, a path or a broker's answer cannot
 * reach the terminal as a control sequence. Lines joined on purpose stay lines.
 */
function tell(io: FetchIo, text: string): void {
  io.stderr.write(`secrets-fetch: ${printableLines(text)}\n`);
}

function wholeNumber(
  text: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${printable(text)}"`);
  return Number(text);
}

/** What the failure messages call secrets-fetch's settings. */
function fetchWording(tokens: TokenSource | undefined): ClientWording {
  return {
    audienceHint: ({ expected }) =>
      tokens === undefined || tokens.requestsAudience
        ? `pass --audience ${expected} (it defaults to the --broker URL)`
        : `the token from ${tokens.description} was minted before secrets-fetch ran, so --audience cannot change it: ` +
          `mint it with that audience (on GitLab, the aud of the id_tokens, which the secrets-action component sets from its audience input)`,
  };
}

/** Runs secrets-fetch; returns the exit code. Values only ever go to stdout, --out or the command's environment. */
export async function fetchMain(argv: readonly string[], io: FetchIo): Promise<number> {
  const separator = argv.indexOf('--');
  const optionArgs = separator === -1 ? [...argv] : argv.slice(0, separator);
  const command = separator === -1 ? [] : argv.slice(separator + 1);
  let tokens: TokenSource | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: optionArgs,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.stdout.write(`${HELP}\n`);
      return 0;
    }
    if (values.version === true) {
      io.stdout.write(`secrets-fetch ${CLIENT_VERSION}\n`);
      return 0;
    }
    const exec = positionals[0] === 'exec';
    const list = positionals[0] === 'list';
    const put = positionals[0] === 'put';
    const verbs = exec || list || put ? 1 : 0;
    if (positionals.length > verbs)
      throw new UsageError(`unexpected argument "${printable(positionals[verbs] as string)}"`);
    if (exec && command.length === 0) throw new UsageError('exec needs a command after "--"');
    if (!exec && command.length > 0)
      throw new UsageError('a command after "--" needs the exec verb: secrets-fetch exec ... -- COMMAND');
    if (exec && values.out !== undefined)
      throw new UsageError('--out does not go with exec: the command gets the secrets in its environment');
    if (list && (values.out !== undefined || values.format !== undefined))
      throw new UsageError(
        `${values.out === undefined ? '--format' : '--out'} does not go with list: list prints names and versions to stdout (--json for JSON)`,
      );
    if (!list && !put && values.json === true)
      throw new UsageError(
        '--json goes with list and put; to print fetched secrets as JSON, use --format json',
      );
    checkPutOptions(put, values);
    const given = values.broker;
    if (given === undefined) throw new UsageError('--broker URL is required');
    const brokerProblem = brokerUrlProblem(given);
    if (brokerProblem !== undefined) throw new UsageError(`--broker ${printable(brokerProblem)}`);
    const broker = normalBrokerUrl(given);
    const format = (values.format ?? 'dotenv') as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format))
      throw new UsageError(
        `--format must be one of ${OUTPUT_FORMATS.join(', ')}, not "${printable(format)}"`,
      );
    const retries = wholeNumber(values.retries, 'retries', 3, 0, 10);
    const timeoutSeconds = wholeNumber(values['timeout-seconds'], 'timeout-seconds', 30, 1, 600);
    const keyBindingText = values['key-binding'] ?? 'auto';
    const keyBinding = keyBindingText.trim() === '' ? undefined : parseKeyBindingChoice(keyBindingText);
    if (keyBinding === undefined)
      throw new UsageError(
        `--key-binding must be auto, on or off, not "${printable(values['key-binding'] ?? '')}"`,
      );
    let lines: SecretLine[] = [];
    let listEntries: RequestedEntry[] = [];
    let outputs: OutputPayload[] = [];
    try {
      if (put) outputs = putValues(values.output ?? [], values.ttl, io.environment);
      else if (list) listEntries = parseListFlags(values.secret ?? []);
      else lines = parseSecretFlags(values.secret ?? []);
    } catch (error) {
      if (error instanceof InputError) throw new UsageError(error.message);
      throw error;
    }
    const base = process.cwd();
    // Checked before a token is spent: the command must be one that can run.
    let commandPath: string | undefined;
    if (exec) {
      const found = await resolveCommand(command[0] as string, io.environment.PATH, base);
      if (found.kind !== 'found') {
        tell(io, `cannot run ${printable(command[0] as string)}: ${found.reason}; nothing was fetched`);
        return found.exitCode;
      }
      commandPath = found.path;
    }
    // Checked before a token is spent: --out must name a path where nothing exists yet.
    // No directory on the way to it below the current directory may be a symbolic link.
    const out = values.out === undefined ? undefined : resolve(values.out);
    if (out !== undefined) await checkPathFree(out, base);
    const audience = values.audience ?? broker;
    tokens = await resolveTokenSource(
      { tokenEnv: values['token-env'] ?? [], tokenFile: values['token-file'], audience },
      io.environment,
    );
    const source = tokens;
    const call = {
      brokerUrl: broker,
      getToken: (remainingMs: number, bindTo?: Uint8Array) => source.next(remainingMs, bindTo),
      keyBinding,
      ...(source.requestsAudience ? { bindableTokens: source.description } : {}),
      brokerInfo: brokerInfoOnce(broker),
      timeoutMs: timeoutSeconds * 1000,
      retries,
      onRetry: ({ attempt, delayMs, reason }: RetryNotice) =>
        tell(io, `${printable(reason)}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
    };
    if (put) {
      const stored = await putOutputs({
        ...call,
        outputs,
        ...(values.ttl === undefined ? {} : { ttl: values.ttl }),
      });
      tell(io, `put ${stored.outputs.length} output(s) (request id ${printable(stored.requestId)})`);
      io.stdout.write(values.json === true ? `${JSON.stringify(putAnswer(stored))}\n` : storedLines(stored));
      return 0;
    }
    if (list) {
      const listed = await listSecrets({ ...call, entries: listEntries.map((entry) => entry.raw) });
      io.stdout.write(values.json === true ? `${JSON.stringify(listed)}\n` : listLines(listed));
      return 0;
    }
    const released = await fetchSecrets({ ...call, entries: lines.map((line) => line.entry.raw) });
    const items = planExports(lines, released.secrets);
    tell(
      io,
      `released ${items.map((item) => `${printable(item.secretName)} v${item.version} as ${item.envName}`).join(', ') || 'nothing'}`,
    );
    for (const note of fallbackNotes(items)) tell(io, note);
    if (commandPath !== undefined) return await runRedacted(commandPath, command, items, io);
    const text = render(format, items);
    if (out !== undefined) await writeNewPrivateFile(out, text, { base });
    else io.stdout.write(text);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // Node's parseArgs quotes the unknown option as it was given: one line, escaped whole. A UsageError's
      // lines are joined on purpose, each argument in them escaped where it was put in.
      const message = (error as Error).message;
      tell(io, error instanceof UsageError ? message : printable(message));
      io.stderr.write(`${USAGE}\n(secrets-fetch --help lists every option)\n`);
      return 2;
    }
    tell(io, failureMessage(error, fetchWording(tokens)));
    return 1;
  }
}

/** With put: what only goes with fetching, and put's own options without put. */
function checkPutOptions(put: boolean, values: { readonly [name: string]: unknown }): void {
  if (put) {
    const fetchOnly = ['secret', 'format', 'out'].find((name) => values[name] !== undefined);
    if (fetchOnly !== undefined)
      throw new UsageError(
        `--${fetchOnly} does not go with put: put takes --output NAME[=ENV_VAR], values from the environment`,
      );
    return;
  }
  const putOnly = ['output', 'ttl'].find((name) => values[name] !== undefined);
  if (putOnly !== undefined)
    throw new UsageError(`--${putOnly} goes with the put verb: secrets-fetch put --broker URL --output NAME`);
}

/** put's outputs, each value read from the environment (every problem named at once, never a value). */
function putValues(
  flags: readonly string[],
  ttl: string | undefined,
  environment: FetchIo['environment'],
): OutputPayload[] {
  if (ttl !== undefined) {
    const seconds = parseOutputTtl(ttl);
    if (typeof seconds === 'string') throw new UsageError(`--ttl "${printable(ttl)}": ${seconds}`);
  }
  return readOutputValues(
    parseOutputFlags(flags),
    environment,
    'export it before secrets-fetch runs; values are never taken from arguments',
  );
}

function putAnswer(stored: PutOutputsResult): { request_id: string; outputs: readonly StoredOutput[] } {
  return { request_id: stored.requestId, outputs: stored.outputs };
}

/** One `run/NAME EXPIRES_AT` line an output: the entry later jobs fetch it with, and until when they can. */
function storedLines(stored: PutOutputsResult): string {
  return stored.outputs
    .map((output) => `${RUN_OUTPUT_PREFIX}${printable(output.name)} ${printable(output.expires_at)}\n`)
    .join('');
}

/** One `NAME VERSION` line a secret. */
function listLines(listed: readonly ListedSecret[]): string {
  return listed.map((secret) => `${printable(secret.name)} ${secret.version}\n`).join('');
}

function render(format: OutputFormat, items: readonly ExportItem[]): string {
  const values = items.map((item) => ({
    name: item.envName,
    value: item.value,
    secretName: item.secretName,
  }));
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
  commandPath: string,
  command: readonly string[],
  items: readonly ExportItem[],
  io: FetchIo,
): Promise<number> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(io.environment))
    if (value !== undefined) environment[name] = value;
  for (const item of items) environment[item.envName] = item.value;
  const redactor = new Redactor(
    redactionPatterns(
      items.map((item) => item.value),
      true,
    ),
  );
  // Loaded only for exec: fetching to a file or stdout never starts a process.
  const { spawn } = process.getBuiltinModule('node:child_process');
  const child = spawn(commandPath, command.slice(1), {
    argv0: command[0] as string,
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
    // Found and executable a moment ago; gone or refused now (ENOENT, EACCES, ENOEXEC): the shell's statuses.
    const code = (error as NodeJS.ErrnoException).code;
    tell(io, `cannot run ${printable(command[0] as string)}: ${printable(code ?? (error as Error).message)}`);
    return code === 'ENOENT' ? 127 : 126;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
