import { BrokerProblemError, type AudienceMismatch } from './errors.js';
import { CodedError } from '../protocol/coded-error.js';
import { printable, printableLines } from '../protocol/printable.js';

const LEADS: Readonly<Record<string, string>> = {
  invalid_token: "The broker refused this job's OIDC token",
  unknown_issuer: "The broker does not trust the issuer of this job's OIDC token",
  token_replayed: 'The broker saw this OIDC token before (tokens are single-use)',
  policy_denied: "The broker's policy does not grant this job what it asked for",
  condition_failed:
    "A condition of the broker's policy (source address or time window) does not hold for this job",
  secret_expired: 'A secret this job asked for has expired, so the broker released nothing',
  rotation_required: 'A secret this job asked for must be rotated before it is released again',
  read_budget_exhausted: 'A secret this job asked for has used up its read budget for now',
  secret_not_found: 'The broker does not store some of the secrets this job asked for',
  invalid_request: 'The broker refused the request',
  payload_too_large: 'The request was too large for the broker',
  rate_limited: 'The broker is rate-limiting this job',
  unavailable: 'The broker is unavailable and released nothing',
};

/**
 * How the client's own errors read, by code. Errors not here read "secrets-action failed: ...". The messages of
 * input_invalid and export_refused are lines joined on purpose: each line's own text is escaped.
 */
const MESSAGES: Readonly<Record<string, (message: string) => string>> = {
  input_invalid: (message) => `Invalid input:\n${printableLines(message)}`,
  export_refused: (message) => `Nothing was exported:\n${printableLines(message)}`,
  requested_entry_invalid: (message) => `Invalid input: ${printable(message)}`,
  response_integrity: (message) =>
    `The broker's answer failed its checks, so nothing was used: ${printable(message)}`,
  private_file_refused: (message) => `Nothing was written: ${printable(message)}`,
  format_refused: (message) => `Nothing was written: ${printable(message)}`,
  // These say all there is to say.
  broker_unreachable: printable,
  token_request_failed: printable,
  tokens_used_up: printable,
  no_token: printable,
};

/** What the messages call the settings of the client that shows them (the action's inputs, secrets-fetch's options). */
export interface ClientWording {
  /** What to change when the job's token was issued for another audience than the broker's. */
  readonly audienceHint: (mismatch: AudienceMismatch) => string;
}

/** Neutral wording, for callers with no setting of their own to name. */
const PLAIN_WORDING: ClientWording = {
  audienceHint: ({ expected }) => `request the ID token with audience ${JSON.stringify(expected)}`,
};

/**
 * One message for a failed fetch: what went wrong, the broker's own words and hint, and the request id. Every
 * piece that came from the broker, a secret name or an input is escaped (`printable`), so none of it can start
 * a workflow command or a terminal escape in the log; only the lines this function joins are real lines.
 */
export function failureMessage(error: unknown, wording: ClientWording = PLAIN_WORDING): string {
  if (error instanceof BrokerProblemError) {
    const { problem } = error;
    const lead = Object.hasOwn(LEADS, problem.code)
      ? (LEADS[problem.code] as string)
      : `The broker answered HTTP ${error.status}`;
    const parts = [`${lead} (${printable(problem.code)}): ${printable(problem.detail)}`];
    if (error.audienceMismatch !== undefined) {
      const { sent, expected } = error.audienceMismatch;
      parts.push(
        `This job's token is for audience ${sent.map((item) => printable(JSON.stringify(item))).join(', ')}; ` +
          `the broker expects ${printable(JSON.stringify(expected))}: ${printable(wording.audienceHint(error.audienceMismatch))}.`,
      );
    } else if (problem.hint !== undefined) parts.push(`Hint: ${printable(problem.hint)}`);
    if (error.gaveUp !== undefined) parts.push(`The client ${printable(error.gaveUp)}.`);
    if (problem.request_id !== undefined)
      parts.push(`Request id: ${printable(problem.request_id)} (the broker's audit log has the details).`);
    return parts.join('\n');
  }
  const message = error instanceof Error ? error.message : String(error);
  const wordingOf =
    error instanceof CodedError && Object.hasOwn(MESSAGES, error.code) ? MESSAGES[error.code] : undefined;
  if (wordingOf !== undefined) return wordingOf(message);
  return `secrets-action failed: ${printable(message)}`;
}
