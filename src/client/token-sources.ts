import { CodedError } from '../protocol/coded-error.js';
import { boundedGetJson, BoundedRequestError } from '../protocol/bounded-request.js';
import { readFileAtMost, TooLargeError } from '../protocol/bounded-read.js';
import { printable } from '../protocol/printable.js';
import { boundAudience } from '../protocol/key-binding.js';
import { TokensUsedUpError } from './errors.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** The id_tokens variables the GitLab component declares: one token per attempt. */
export const GITLAB_COMPONENT_TOKEN_VARIABLES = [
  'SECRETS_ACTION_ID_TOKEN_1',
  'SECRETS_ACTION_ID_TOKEN_2',
  'SECRETS_ACTION_ID_TOKEN_3',
];

/** An OIDC ID token is a few KiB; the broker refuses any over 16 KiB. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

export class NoTokenError extends CodedError {
  readonly code: string = 'no_token';
  override name = 'NoTokenError';
}

export interface TokenSource {
  readonly description: string;
  /** True when each token is requested with the audience option; false for tokens minted before the run. */
  readonly requestsAudience: boolean;
  /**
   * A token for the next attempt, within `timeoutMs` where it has to ask for one. Tokens are single-use, so a
   * source of fixed tokens runs out.
   */
  next(timeoutMs?: number, bindTo?: Uint8Array): Promise<string>;
}

/** The longest wait for GitHub's token endpoint, whatever time the step has left. */
const MAX_TOKEN_REQUEST_MS = 15_000;

/** Fixed tokens (from variables or a file), each handed out once. */
function fixedTokens(tokens: readonly string[], description: string): TokenSource {
  let used = 0;
  return {
    description,
    requestsAudience: false,
    next: async () => {
      const token = tokens[used];
      if (token === undefined) {
        throw new TokensUsedUpError(
          `no token left for another attempt: each OIDC token works once, and the ${tokens.length} from ${description} were used`,
        );
      }
      used += 1;
      return token;
    },
  };
}

/** GitHub's runner endpoint (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN): a fresh token for every attempt. */
export function githubRunnerTokens(requestUrl: string, requestToken: string, audience: string): TokenSource {
  return {
    description: 'the GitHub Actions runner (ACTIONS_ID_TOKEN_REQUEST_URL)',
    requestsAudience: true,
    next: async (timeoutMs = MAX_TOKEN_REQUEST_MS, bindTo?: Uint8Array) => {
      // Bound to the caller's key when it asks: the audience then carries that key's digest.
      const requested = bindTo === undefined ? audience : boundAudience(audience, bindTo);
      let body: Record<string, unknown>;
      try {
        body = await boundedGetJson(`${requestUrl}&audience=${encodeURIComponent(requested)}`, {
          what: 'the ID token request',
          headers: { authorization: `Bearer ${requestToken}` },
          timeoutMs: Math.max(1, Math.min(timeoutMs, MAX_TOKEN_REQUEST_MS)),
          maxBytes: 64 * 1024,
        });
      } catch (error) {
        if (!(error instanceof BoundedRequestError)) throw error;
        throw new NoTokenError(`the GitHub runner gave no ID token: ${error.message}`);
      }
      if (typeof body.value !== 'string')
        throw new NoTokenError('the GitHub runner answered without a token');
      return body.value;
    },
  };
}

export interface TokenOptions {
  readonly tokenEnv: readonly string[];
  readonly tokenFile: string | undefined;
  readonly audience: string;
}

/**
 * Where tokens come from: --token-env VARs (one token each, in order), --token-file, or found on the machine:
 * GitHub's runner variables, then the GitLab component's SECRETS_ACTION_ID_TOKEN_1..3.
 */
export async function resolveTokenSource(
  options: TokenOptions,
  environment: Environment,
): Promise<TokenSource> {
  if (options.tokenEnv.length > 0) {
    const tokens = options.tokenEnv.map((name) => {
      const value = environment[name];
      if (value === undefined || value === '')
        throw new NoTokenError(`--token-env ${name}: the variable is not set or empty`);
      return value.trim();
    });
    return fixedTokens(tokens, options.tokenEnv.join(', '));
  }
  if (options.tokenFile !== undefined) {
    let text: string;
    try {
      text = (await readFileAtMost(options.tokenFile, MAX_TOKEN_FILE_BYTES, 'the token file')).toString(
        'utf8',
      );
    } catch (error) {
      const reason =
        error instanceof TooLargeError
          ? `${error.message}: it should hold one OIDC token`
          : ((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      throw new NoTokenError(`--token-file ${printable(options.tokenFile)}: ${printable(reason)}`);
    }
    return fixedTokens([text.trim()], options.tokenFile);
  }
  const requestUrl = environment.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = environment.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (requestUrl && requestToken) return githubRunnerTokens(requestUrl, requestToken, options.audience);
  const gitlab = GITLAB_COMPONENT_TOKEN_VARIABLES.filter((name) => environment[name]);
  if (gitlab.length > 0)
    return fixedTokens(
      gitlab.map((name) => (environment[name] as string).trim()),
      gitlab.join(', '),
    );
  throw new NoTokenError(
    'no OIDC ID token found: pass --token-env VAR or --token-file FILE; on GitHub give the job "permissions: id-token: write"; on GitLab declare id_tokens (the secrets-action component does)',
  );
}
