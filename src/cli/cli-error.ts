import { printableLines } from '../protocol/printable.js';

/** An error the CLI reports as "error: ..." (and "hint: ...") with exit code 1, without a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly hint?: string,
    /** The process exit code; an empty message with it just ends the command with that code. */
    readonly exitCode = 1,
  ) {
    super(message);
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
