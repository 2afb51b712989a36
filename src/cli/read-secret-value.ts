import { readFileAtMost, readStreamAtMost, TooLargeError } from '../protocol/bounded-read.js';
import { MAX_SECRET_VALUE_BYTES } from '../broker/store/secret-vault.js';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { printable } from '../protocol/printable.js';
import { CliError, writeLine } from './cli-error.js';

export interface ValueSourceOptions {
  readonly prompt?: boolean;
  readonly fromStdin?: boolean;
  readonly fromFile?: string;
  readonly fromEnv?: string;
  readonly value?: string;
}

export interface ValueIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  readonly environment: Readonly<Record<string, string | undefined>>;
}

const MODES = '--prompt, --from-stdin, --from-file F, --from-env VAR or --value V';

function decodeUtf8(bytes: Buffer, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError(`${printable(source)} is not valid UTF-8 text`, 'store binary values base64-encoded');
  }
}

/** A value piped in with a final newline ("echo secret |") means the line; multi-line input is kept exactly. */
function stripFinalNewline(text: string): string {
  const body = text.replace(/\r?\n$/, '');
  return body.includes('\n') ? text : body;
}

/** Reads the secret value from exactly one of the five sources. Never echoes or prints it. */
export async function readSecretValue(options: ValueSourceOptions, io: ValueIo): Promise<string> {
  const chosen = [options.prompt, options.fromStdin, options.fromFile, options.fromEnv, options.value].filter(
    (option) => option !== undefined && option !== false,
  ).length;
  if (chosen !== 1) {
    throw new CliError(
      chosen === 0 ? `say where the value comes from: ${MODES}` : `use only one of ${MODES}`,
    );
  }
  if (options.value !== undefined) {
    writeLine(
      io.stderr,
      'warning: --value leaves the secret in your shell history and in the process list; prefer --prompt, --from-stdin, --from-file or --from-env',
    );
    return options.value;
  }
  if (options.fromEnv !== undefined) {
    const value = io.environment[options.fromEnv];
    if (value === undefined || value === '')
      throw new CliError(`the environment variable ${printable(options.fromEnv)} is not set or empty`);
    return value;
  }
  if (options.fromFile !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readFileAtMost(options.fromFile, MAX_SECRET_VALUE_BYTES, printable(options.fromFile));
    } catch (error) {
      if (error instanceof TooLargeError)
        throw new CliError(`${error.message} of a secret value; nothing was stored`);
      throw new CliError(
        `cannot read ${printable(options.fromFile)}: ${printable((error as NodeJS.ErrnoException).code ?? (error as Error).message)}`,
      );
    }
    return decodeUtf8(bytes, options.fromFile);
  }
  if (options.fromStdin === true) {
    let bytes: Buffer;
    try {
      // Room for the final newline a shell adds, which is stripped.
      bytes = await readStreamAtMost(
        io.stdin as AsyncIterable<Buffer>,
        MAX_SECRET_VALUE_BYTES + 2,
        'standard input',
      );
    } catch (error) {
      if (error instanceof TooLargeError)
        throw new CliError(`${error.message} (${MAX_SECRET_VALUE_BYTES} bytes of value); nothing was stored`);
      throw error;
    }
    return stripFinalNewline(decodeUtf8(bytes, 'standard input'));
  }
  return promptTwice(io);
}

async function promptTwice(io: ValueIo): Promise<string> {
  if (io.stdin.isTTY !== true)
    throw new CliError('--prompt needs a terminal; pipe the value with --from-stdin instead');
  let muted = false;
  const output = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      if (!muted) io.stderr.write(chunk);
      callback();
    },
  });
  const lines = createInterface({ input: io.stdin, output, terminal: true });
  try {
    const ask = async (question: string): Promise<string> => {
      muted = false;
      const answer = lines.question(question);
      muted = true;
      const value = await answer;
      writeLine(io.stderr);
      return value;
    };
    const first = await ask('Value (not shown): ');
    const second = await ask('Again: ');
    if (first !== second) throw new CliError('the two values differ; nothing was stored');
    return first;
  } finally {
    lines.close();
  }
}
