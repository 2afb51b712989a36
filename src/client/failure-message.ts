import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
  TokenRequestError,
} from './errors.js';
import { RequestedEntryError } from '../protocol/secret-names.js';
import { ExportPlanError } from './export-plan.js';
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

/** One message for a failed fetch: what went wrong, the broker's own words and hint, and the request id. */
export function failureMessage(error: unknown): string {
  if (error instanceof BrokerProblemError) {
    const { problem } = error;
    const lead = LEADS[problem.code] ?? `The broker answered HTTP ${error.status}`;
    const parts = [`${lead} (${problem.code}): ${problem.detail}`];
    if (problem.hint !== undefined) parts.push(`Hint: ${problem.hint}`);
    if (problem.request_id !== undefined)
      parts.push(`Request id: ${problem.request_id} (the broker's audit log has the details).`);
    return parts.join('\n');
  }
  if (error instanceof InputError) return `Invalid input:\n${error.message}`;
  if (error instanceof RequestedEntryError) return `Invalid input: ${error.message}`;
  if (error instanceof ExportPlanError) return `Nothing was exported:\n${error.message}`;
  if (error instanceof ResponseIntegrityError)
    return `The broker's answer failed its checks, so nothing was used: ${error.message}`;
  if (error instanceof BrokerUnreachableError || error instanceof TokenRequestError) return error.message;
  if (error instanceof NoTokenError) return error.message;
  return `secrets-action failed: ${error instanceof Error ? error.message : String(error)}`;
}
