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

function field(claims: Readonly<Record<string, unknown>>, ...names: string[]): string | null {
  for (const name of names) {
    const value = claims[name];
    if (typeof value === 'string' || typeof value === 'number')
      return String(value).slice(0, MAX_FIELD_LENGTH);
  }
  return null;
}

export function workloadIdentity(claims: Readonly<Record<string, unknown>> | undefined): WorkloadIdentity {
  const source = claims ?? {};
  return {
    sub: field(source, 'sub'),
    repository: field(source, 'repository', 'project_path'),
    ref: field(source, 'ref'),
    environment: field(source, 'environment'),
    workflow: field(source, 'workflow_ref', 'ci_config_ref_uri', 'workflow'),
    run_id: field(source, 'run_id', 'pipeline_id'),
    actor: field(source, 'actor', 'user_login'),
  };
}
