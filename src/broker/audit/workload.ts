import { printable } from '../../protocol/printable.js';

/** The identity fields an audit record keeps, read from GitHub- or GitLab-shaped claims. */
export interface WorkloadIdentity {
  readonly sub: string | null;
  readonly repository: string | null;
  readonly ref: string | null;
  readonly environment: string | null;
  readonly workflow: string | null;
  readonly run_id: string | null;
  readonly actor: string | null;
}

const MAX_FIELD_LENGTH = 256;

type Clean = (text: string) => string;

function field(claims: Readonly<Record<string, unknown>>, clean: Clean, ...names: string[]): string | null {
  for (const name of names) {
    const value = claims[name];
    if (typeof value === 'string' || typeof value === 'number')
      return clean(String(value).slice(0, MAX_FIELD_LENGTH));
  }
  return null;
}

function identity(claims: Readonly<Record<string, unknown>> | undefined, clean: Clean): WorkloadIdentity {
  const source = claims ?? {};
  return {
    sub: field(source, clean, 'sub'),
    repository: field(source, clean, 'repository', 'project_path'),
    ref: field(source, clean, 'ref'),
    environment: field(source, clean, 'environment'),
    workflow: field(source, clean, 'workflow_ref', 'ci_config_ref_uri', 'workflow'),
    run_id: field(source, clean, 'run_id', 'pipeline_id'),
    actor: field(source, clean, 'actor', 'user_login'),
  };
}

/** The identity of a verified token, as its issuer signed it. */
export function workloadIdentity(claims: Readonly<Record<string, unknown>> | undefined): WorkloadIdentity {
  return identity(claims, (text) => text);
}

/**
 * What a token that did not verify claimed to be: anyone can write these, so every control, bidi and invisible
 * character is escaped before it is stored, and they are kept apart from the verified identity fields.
 */
export function claimedIdentity(claims: Readonly<Record<string, unknown>> | undefined): WorkloadIdentity {
  return identity(claims, printable);
}

export const NO_IDENTITY: WorkloadIdentity = identity(undefined, (text) => text);
