/**
 * The claims GitHub and GitLab document for their CI ID tokens, so that a rule binding a claim those tokens never
 * carry (a typo such as "repositry_id") is caught: such a rule can never match. Issuers whose claims are not
 * known here are never judged on claim names.
 *
 * Sources: GitHub, "OpenID Connect reference" (OIDC token claims; the claims_supported of
 * https://token.actions.githubusercontent.com/.well-known/openid-configuration), and GitLab, "OpenID Connect (OIDC)
 * Authentication Using ID Tokens" (token payload). Update both lists when the providers add claims.
 */

/** Registered JWT claims every ID token may carry (RFC 7519). */
const STANDARD_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'] as const;

export const GITHUB_CLAIMS: readonly string[] = [
  ...STANDARD_CLAIMS,
  'actor',
  'actor_id',
  'base_ref',
  'check_run_id',
  'enterprise',
  'enterprise_id',
  'environment',
  'environment_node_id',
  'event_name',
  'head_ref',
  'issuer_scope',
  'job_workflow_ref',
  'job_workflow_sha',
  'ref',
  'ref_protected',
  'ref_type',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'repository_visibility',
  'run_attempt',
  'run_id',
  'run_number',
  'runner_environment',
  'sha',
  'workflow',
  'workflow_ref',
  'workflow_sha',
];

/** Repository custom properties an organization adds to its tokens: repo_property_<property name>. */
const GITHUB_CLAIM_PREFIXES = ['repo_property_'];

export const GITLAB_CLAIMS: readonly string[] = [
  ...STANDARD_CLAIMS,
  'namespace_id',
  'namespace_path',
  'project_id',
  'project_path',
  'project_visibility',
  'user_id',
  'user_login',
  'user_email',
  'user_access_level',
  'user_identities',
  'job_project_id',
  'job_project_path',
  'job_namespace_id',
  'job_namespace_path',
  'pipeline_id',
  'pipeline_source',
  'job_id',
  'job_source',
  'job_config',
  'ref',
  'ref_type',
  'ref_path',
  'ref_protected',
  'groups_direct',
  'environment',
  'environment_protected',
  'environment_action',
  'deployment_tier',
  'runner_id',
  'runner_environment',
  'sha',
  'ci_config_ref_uri',
  'ci_config_sha',
];

export interface ClaimCatalog {
  /** The provider, as people name it. */
  readonly provider: 'GitHub' | 'GitLab';
  readonly claims: readonly string[];
  readonly prefixes: readonly string[];
}

const GITHUB: ClaimCatalog = { provider: 'GitHub', claims: GITHUB_CLAIMS, prefixes: GITHUB_CLAIM_PREFIXES };
const GITLAB: ClaimCatalog = { provider: 'GitLab', claims: GITLAB_CLAIMS, prefixes: [] };

/** Every claim name either provider documents: a rule of an unrecognised issuer that binds only these is CI-shaped. */
export const CI_PROVIDER_CLAIMS: ReadonlySet<string> = new Set([...GITHUB_CLAIMS, ...GITLAB_CLAIMS]);

/**
 * The claim catalog of an issuer, recognised by its URL: GitHub.com (and its enterprise issuer paths), GHE.com
 * (token.actions.SUBDOMAIN.ghe.com), GitHub Enterprise Server (https://HOST/_services/token), GitLab.com and
 * GitLab instances whose host name starts with "gitlab.". Undefined for any other issuer.
 */
export function claimCatalogFor(issuerUrl: string): ClaimCatalog | undefined {
  let url: URL;
  try {
    url = new URL(issuerUrl);
  } catch {
    return undefined;
  }
  const host = url.hostname.toLowerCase();
  if (
    host === 'token.actions.githubusercontent.com' ||
    /^token\.actions\.[a-z0-9-]+\.ghe\.com$/.test(host) ||
    /\/_services\/token\/?$/.test(url.pathname)
  ) {
    return GITHUB;
  }
  if (host === 'gitlab.com' || host.startsWith('gitlab.')) return GITLAB;
  return undefined;
}

/** Whether a token of this provider can carry `claim`. */
export function isKnownClaim(catalog: ClaimCatalog, claim: string): boolean {
  return catalog.claims.includes(claim) || catalog.prefixes.some((prefix) => claim.startsWith(prefix));
}
