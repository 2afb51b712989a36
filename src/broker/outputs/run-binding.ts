import { BrokerError } from '../errors.js';
import type { VerifiedToken } from '../oidc/token-verifier.js';

/** The run a verified token comes from: outputs are stored and read back under it, with the issuer's URL. */
export interface RunBinding {
  readonly issuer: string;
  /** `github:<repository_id>:<run_id>` or `gitlab:<project_id>:<pipeline_id>`. */
  readonly run: string;
}

const SHAPES = [
  { prefix: 'github', claims: ['repository_id', 'run_id'] },
  { prefix: 'gitlab', claims: ['project_id', 'pipeline_id'] },
] as const;

/** An id claim as a string of digits (issuers send numbers or numeric strings); undefined otherwise. */
function idClaim(value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  return typeof text === 'string' && /^[0-9]{1,20}$/.test(text) ? text : undefined;
}

/**
 * The run of a verified token: GitHub-shaped claims (repository_id, run_id; a re-run's run_attempt is the same
 * run) or GitLab-shaped ones (project_id, pipeline_id). Undefined when the token carries neither.
 */
export function runBindingOf(verified: VerifiedToken): RunBinding | undefined {
  for (const shape of SHAPES) {
    const [owner, run] = shape.claims.map((claim) => idClaim(verified.claims[claim]));
    if (owner !== undefined && run !== undefined)
      return { issuer: verified.issuer.url, run: `${shape.prefix}:${owner}:${run}` };
  }
  return undefined;
}

/** The run of a verified token, or the refusal of a token that names none. */
export function requireRunBinding(verified: VerifiedToken): RunBinding {
  const binding = runBindingOf(verified);
  if (binding !== undefined) return binding;
  throw new BrokerError(
    'invalid_request',
    `tokens of issuer "${verified.issuer.name}" carry no run identifier (repository_id and run_id, or project_id and pipeline_id), so run outputs cannot be bound to a run`,
    { hint: 'run outputs work with GitHub Actions and GitLab CI ID tokens; use ordinary secrets otherwise' },
  );
}
