import type { Problem } from '../protocol/wire.js';

/** The broker answered with a problem document (a 4xx, or a 5xx after every retry). */
export class BrokerProblemError extends Error {
  override name = 'BrokerProblemError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail);
  }

  get code(): string {
    return this.problem.code;
  }
}

/** The broker could not be reached, or kept failing, until the retries or the time ran out. */
export class BrokerUnreachableError extends Error {
  override name = 'BrokerUnreachableError';
}

/** The broker's answer broke the protocol: a box that does not match its entry, an unrequested secret, … */
export class ResponseIntegrityError extends Error {
  override name = 'ResponseIntegrityError';
}

/** The OIDC token could not be obtained from the CI provider. */
export class TokenRequestError extends Error {
  override name = 'TokenRequestError';
}
