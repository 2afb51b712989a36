import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
  TokenRequestError,
  TokensUsedUpError,
  type AudienceMismatch,
} from './errors.js';
import { printable, printableLines } from '../protocol/printable.js';
import { RequestedEntryError } from '../protocol/secret-names.js';
import { ExportPlanError } from './export-plan.js';
import { FormatError } from './formats.js';
import { PrivateFileError } from './private-files.js';
import { InputError } from './secret-lines.js';
import { NoTokenError } from './token-sources.js';

const LEADS: Readonly<Record<string, string>> = {
  invalid_token: "The broker refused this job's OIDC token",
  unknown_issuer: "The broker does not trust the issuer of this job's OIDC token",
  token_replayed: 'The broker saw this OIDC token before (tokens are single-use)',
  policy_denied: "The broker's policy does not grant this job what it asked for",
  secret_not_found: 'The broker does not store some of the secrets this job asked for',
  invalid_request: 'The broker refused the request',
  payload_too_large: 'The request was too large for the broker',
  rate_limited: 'The broker is rate-limiting this job',
  unavailable: 'The broker is unavailable and released nothing',
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
  // These messages are lines joined on purpose; each line's own text is escaped.
  if (error instanceof InputError) return `Invalid input:\n${printableLines(error.message)}`;
  if (error instanceof ExportPlanError) return `Nothing was exported:\n${printableLines(error.message)}`;
  const message = printable(error instanceof Error ? error.message : String(error));
  if (error instanceof RequestedEntryError) return `Invalid input: ${message}`;
  if (error instanceof ResponseIntegrityError)
    return `The broker's answer failed its checks, so nothing was used: ${message}`;
  if (error instanceof PrivateFileError || error instanceof FormatError)
    return `Nothing was written: ${message}`;
  if (
    error instanceof BrokerUnreachableError ||
    error instanceof TokenRequestError ||
    error instanceof TokensUsedUpError ||
    error instanceof NoTokenError
  )
    return message;
  return `secrets-action failed: ${message}`;
}
