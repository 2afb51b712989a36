import { CodedError } from '../protocol/coded-error.js';
import type { Problem } from '../protocol/wire-shapes.js';

/** The audience the job's token was issued for and the one the broker's policy expects, when they differ. */
export interface AudienceMismatch {
  readonly sent: readonly string[];
  readonly expected: string;
}

/** The broker answered with a problem document (a 4xx, or a 5xx after every retry). */
export class BrokerProblemError extends CodedError {
  override name = 'BrokerProblemError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
    /** After retries: how many attempts were made and why they stopped. */
    readonly gaveUp?: string,
    /** On `invalid_token`: set when the token's audience is not the broker's. */
    readonly audienceMismatch?: AudienceMismatch,
  ) {
    super(problem.detail, { hint: problem.hint });
  }

  /** The broker's problem code (invalid_token, policy_denied, …). */
  get code(): string {
    return this.problem.code;
  }
}

/** The broker could not be reached, or kept failing, until the retries or the time ran out. */
export class BrokerUnreachableError extends CodedError {
  readonly code: string = 'broker_unreachable';
  override name = 'BrokerUnreachableError';
}

/** The broker's answer broke the protocol: a box that does not match its entry, an unrequested secret, … */
export class ResponseIntegrityError extends CodedError {
  readonly code: string = 'response_integrity';
  override name = 'ResponseIntegrityError';
}

/** The OIDC token could not be obtained from the CI provider. */
export class TokenRequestError extends CodedError {
  readonly code: string = 'token_request_failed';
  override name = 'TokenRequestError';
}

/** A source of fixed tokens (variables, a file) has none left: each OIDC token works once. */
export class TokensUsedUpError extends CodedError {
  readonly code: string = 'tokens_used_up';
  override name = 'TokensUsedUpError';
}
