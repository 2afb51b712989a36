import type { ProblemCode } from '../protocol/wire.js';

export interface BrokerErrorOptions {
  readonly hint?: string;
  /** Requested entries the error is about (never names the caller did not ask for). */
  readonly secrets?: readonly string[];
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/** An error that becomes a problem+json answer. Its texts go to clients: they never hold a secret value. */
export class BrokerError extends Error {
  override name = 'BrokerError';
  readonly hint: string | undefined;
  readonly secrets: readonly string[] | undefined;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(
    readonly code: ProblemCode,
    detail: string,
    options: BrokerErrorOptions = {},
  ) {
    super(detail, { cause: options.cause });
    this.hint = options.hint;
    this.secrets = options.secrets;
    this.extensions = options.extensions;
  }
}
