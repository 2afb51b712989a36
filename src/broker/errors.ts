import { CodedError } from '../protocol/coded-error.js';
import type { WorkBudgetExceededError } from '../protocol/automaton.js';
import type { ProblemCode } from '../protocol/wire.js';

export interface BrokerErrorOptions {
  readonly hint?: string;
  /** Requested entries the error is about (never names the caller did not ask for). */
  readonly secrets?: readonly string[];
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/**
 * An error that becomes a problem+json answer: its code is a problem code (PROBLEM_TYPES in protocol/wire.ts gives
 * the status and title, http/problem.ts renders it). Its texts go to clients: they never hold a secret value.
 */
export class BrokerError extends CodedError {
  override name = 'BrokerError';
  readonly secrets: readonly string[] | undefined;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(
    readonly code: ProblemCode,
    detail: string,
    options: BrokerErrorOptions = {},
  ) {
    super(detail, { hint: options.hint, cause: options.cause });
    this.secrets = options.secrets;
    this.extensions = options.extensions;
  }
}

/** What the broker was doing when an error stopped it: the problem says what was therefore not done. */
export type BrokerOperation = 'exchange' | 'admin' | 'request';

/** Tells the operator about a failure the client's problem does not explain (it goes to the log, never to the client). */
export type FailureReport = (event: string, detail: string) => void;

interface Translation {
  /** The problem's code, detail and hint for the error during the operation. */
  readonly problem: (error: CodedError, during: BrokerOperation) => BrokerError;
  /** Set when an operator must see the error in the log: the event it is logged as. */
  readonly event?: string;
}

const invalidRequest: Translation = {
  problem: (error) => new BrokerError('invalid_request', error.message, { hint: error.hint }),
};

/**
 * The one mapping of our error codes to problems. An error whose code is not here (and that is no BrokerError)
 * is a bug: it answers `internal` and is logged.
 */
const TRANSLATIONS: Readonly<Record<string, Translation>> = {
  store_unavailable: {
    problem: () =>
      new BrokerError('unavailable', 'the secret store is unavailable, so nothing was released or changed', {
        hint: "retry later; an operator must check the broker's database",
      }),
    event: 'store unavailable',
  },
  secret_integrity: {
    problem: (error, during) =>
      during === 'exchange'
        ? new BrokerError(
            'unavailable',
            'a requested secret failed its integrity check in the store, so nothing was released',
            { hint: "an operator must look at the broker's log for this request id" },
          )
        : new BrokerError('unavailable', error.message),
    event: 'stored secret failed its integrity check',
  },
  issuer_keys_unavailable: {
    problem: (error) =>
      new BrokerError('unavailable', error.message, {
        hint: 'the broker releases nothing while it cannot verify tokens; retry later',
      }),
  },
  work_budget_exceeded: {
    problem: (error, during) =>
      during === 'exchange'
        ? new BrokerError(
            'invalid_request',
            `matching this request against the policy needs more than the ${(error as WorkBudgetExceededError).limit} steps one exchange may use, so nothing was released`,
            {
              hint: 'the token was spent; request secrets by name, or with simpler patterns (fewer wildcards and {a,b} choices), with a fresh token; claims of real CI tokens never come near this limit',
            },
          )
        : new BrokerError('invalid_request', `${error.message}, so it was not explained`, {
            hint: 'ask about fewer secrets at once, or with simpler patterns',
          }),
  },
  recipient_key_invalid: {
    problem: (error) =>
      new BrokerError('invalid_request', `"recipient" ${error.message}`, {
        hint: 'send the public half of a fresh crypto_box key pair',
      }),
  },
  requested_entry_invalid: invalidRequest,
  secret_value_invalid: invalidRequest,
  rotation_conflict: invalidRequest,
};

const UNEXPECTED: Readonly<Record<BrokerOperation, string>> = {
  exchange: 'the broker failed unexpectedly; nothing was released',
  admin: 'the broker failed unexpectedly',
  request: 'the broker failed unexpectedly',
};

/**
 * The problem a failure answers: a BrokerError as it is, one of our errors by its code (TRANSLATIONS), anything
 * else as `internal`. Failures an operator must look into go to `report`; the client never sees their cause.
 */
export function toBrokerError(
  error: unknown,
  during: BrokerOperation,
  report: FailureReport = () => undefined,
): BrokerError {
  if (error instanceof BrokerError) return error;
  const translation =
    error instanceof CodedError && Object.hasOwn(TRANSLATIONS, error.code)
      ? TRANSLATIONS[error.code]
      : undefined;
  if (translation !== undefined) {
    const coded = error as CodedError;
    if (translation.event !== undefined) report(translation.event, coded.message);
    return translation.problem(coded, during);
  }
  report(
    `${during} failed unexpectedly`,
    error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  );
  return new BrokerError('internal', UNEXPECTED[during]);
}
