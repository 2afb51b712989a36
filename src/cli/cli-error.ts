import { CodedError } from '../protocol/coded-error.js';
import { printableLines } from '../protocol/printable.js';

/** An error the CLI reports as "error: ..." (and "hint: ...") with exit code 1, without a stack trace. */
export class CliError extends CodedError {
  readonly code: string = 'cli_failed';
  override name = 'CliError';
  constructor(
    message: string,
    hint?: string,
    /** The process exit code; an empty message with it just ends the command with that code. */
    readonly exitCode = 1,
  ) {
    super(message, { hint });
  }
}

/**
 * The one way the CLI prints a line. Callers escape each untrusted field with `printable` where they build the
 * line; escaping the whole text here too (newlines kept) means a field someone forgot still cannot drive the
 * terminal.
 */
export function writeLine(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${printableLines(text)}\n`);
}

/** Exit codes other than 1, by error code: a command used wrongly exits 2, as getopt tools do. */
const EXIT_CODES: Readonly<Record<string, number>> = { config_usage: 2 };

/**
 * The CLI's one report of a failure: "error: ..." and, when the error has one, "hint: ..." on `stream`, no stack
 * trace; returns the exit code. A CliError with an empty message just ends the command with its exit code.
 */
export function reportFailure(stream: NodeJS.WritableStream, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  if (message !== '' || !(error instanceof CliError)) writeLine(stream, `error: ${message}`);
  if (error instanceof CodedError && error.hint !== undefined) writeLine(stream, `hint: ${error.hint}`);
  if (error instanceof CliError) return error.exitCode;
  return error instanceof CodedError && Object.hasOwn(EXIT_CODES, error.code)
    ? (EXIT_CODES[error.code] as number)
    : 1;
}
