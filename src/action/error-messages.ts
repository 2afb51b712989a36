import { CodedError, hasCode } from '../protocol/coded-error.js';
import { failureMessage as clientFailureMessage, type ClientWording } from '../client/failure-message.js';

const ACTION_WORDING: ClientWording = {
  audienceHint: ({ expected }) =>
    `set the action's "audience" input to ${JSON.stringify(expected)} (it defaults to the broker-url)`,
};

/** The step's failure message: the missing permission in the runner's terms, anything else as the client says it. */
export function failureMessage(error: unknown): string {
  if (hasCode(error, MISSING_ID_TOKEN_PERMISSION_CODE)) return error.message;
  return clientFailureMessage(error, ACTION_WORDING);
}

const MISSING_ID_TOKEN_PERMISSION_CODE = 'missing_id_token_permission';
const MISSING_ID_TOKEN_PERMISSION = [
  'This job cannot request an OIDC ID token: ACTIONS_ID_TOKEN_REQUEST_URL is not set.',
  'Give the job the permission, in the workflow or the job:',
  '  permissions:',
  '    id-token: write',
  '    contents: read',
  'Pull requests from forks never get an ID token (GitHub withholds it), so this step cannot run for them.',
].join('\n');

export class MissingIdTokenPermissionError extends CodedError {
  readonly code: string = MISSING_ID_TOKEN_PERMISSION_CODE;
  override name = 'MissingIdTokenPermissionError';
  constructor() {
    super(MISSING_ID_TOKEN_PERMISSION);
  }
}
