export interface CodedErrorOptions {
  /** How to fix it, for whoever prints the error. */
  readonly hint?: string;
  readonly cause?: unknown;
}

/**
 * The base of every error of ours. Callers decide by `code`, a stable string (snake_case, never an errno such as
 * ENOENT), not by the class or the message; the texts may change, the code does not. The broker maps codes to
 * problems in one place (toBrokerError in broker/errors.ts), the client to messages in client/failure-message.ts,
 * the CLI to exit codes and lines in cli/cli-error.ts.
 */
export abstract class CodedError extends Error {
  abstract readonly code: string;
  readonly hint: string | undefined;

  constructor(message?: string, options: CodedErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.hint = options.hint;
  }
}

/** True when `error` is one of ours with that code. */
export function hasCode(error: unknown, code: string): error is CodedError {
  return error instanceof CodedError && error.code === code;
}
