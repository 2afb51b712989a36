import { hasGlobCharacters } from '../../protocol/glob.js';
import type { CompiledClaimBinding, CompiledPolicy, CompiledRule } from './compiled-policy.js';
import { didYouMean } from './did-you-mean.js';
import { CI_PROVIDER_CLAIMS, claimCatalogFor, isKnownClaim } from './known-claims.js';
import { windowIsEmpty } from './time-window.js';
import { lintIssuers } from './lint-issuers.js';

export type LintSeverity = 'error' | 'warning';

export interface LintFinding {
  readonly check: string;
  readonly severity: LintSeverity;
  readonly rule: string;
  /** Set on a finding about an issuer (then `rule` is `issuers.NAME`). */
  readonly issuer?: string;
  readonly line: number;
  readonly message: string;
}

/** Claims naming a workload by a name that can be re-registered, and the immutable id to bind with each. */
const NAME_TO_ID: Readonly<Record<string, string>> = {
  repository: 'repository_id',
  repository_owner: 'repository_owner_id',
  project_path: 'project_id',
  namespace_path: 'namespace_id',
};
const OWNER_CLAIMS = [
  'repository_owner',
  'repository_owner_id',
  'namespace_path',
  'namespace_id',
  'enterprise',
  'enterprise_id',
];
const REPOSITORY_CLAIMS = ['repository', 'repository_id', 'project_path', 'project_id'];
const WORKFLOW_CLAIMS = ['job_workflow_ref', 'workflow_ref', 'ci_config_ref_uri'];
const IDENTITY_CLAIMS = new Set([...OWNER_CLAIMS, ...REPOSITORY_CLAIMS, ...WORKFLOW_CLAIMS, 'sub']);
const ID_CLAIMS = ['repository_id', 'repository_owner_id', 'project_id', 'namespace_id'];
/** Claims whose values are paths, where a wildcard crossing "/" reaches other repositories or branches. */
const PATH_CLAIMS = new Set([
  'repository',
  'project_path',
  'namespace_path',
  'sub',
  'ref',
  'workflow_ref',
  'job_workflow_ref',
  'ci_config_ref_uri',
]);
const PRODUCTION_SEGMENT = /^(prod|production|prd|live)$/i;
const UNTRUSTED_EVENTS = ['pull_request_target', 'issue_comment'];
const DEFAULT_BRANCHES = ['refs/heads/main', 'refs/heads/master'];

interface MatcherLeaf {
  readonly kind: 'string' | 'regex';
  readonly text: string;
  readonly negated: boolean;
}

/** Every string and regex inside a matcher spec, and whether it sits under a {not}. */
function leaves(spec: unknown, negated = false): MatcherLeaf[] {
  if (typeof spec === 'string') return [{ kind: 'string', text: spec, negated }];
  if (Array.isArray(spec)) return spec.flatMap((item) => leaves(item, negated));
  if (spec !== null && typeof spec === 'object') {
    const map = spec as Record<string, unknown>;
    if (typeof map.regex === 'string') return [{ kind: 'regex', text: map.regex, negated }];
    if ('not' in map) return leaves(map.not, !negated);
  }
  return [];
}

/** Where in a value the wildcard part starts; -1 when the matcher is literal. */
function firstWildcard(leaf: MatcherLeaf): { index: number; prefix: string } {
  if (leaf.kind === 'string') {
    const index = leaf.text.search(/[*?{]/);
    return { index, prefix: index === -1 ? leaf.text : leaf.text.slice(0, index) };
  }
  let prefix = '';
  const source = leaf.text.replace(/^\^/, '').replace(/\$$/, '');
  for (let index = 0; index < source.length; index += 1) {
    const character = source[index] as string;
    if (character === '\\') {
      prefix += source[index + 1] ?? '';
      index += 1;
    } else if ('.*+?[](){}|'.includes(character)) {
      return { index, prefix };
    } else {
      prefix += character;
    }
  }
  return { index: -1, prefix };
}

/** Patterns that show where a repository or project is fully named in each claim's value. */
const REPOSITORY_NAMED: Readonly<Record<string, RegExp>> = {
  sub: /^(repo|project_path):[^:]+\/[^:]+:/,
  workflow_ref: /^[^/]+\/[^/]+\//,
  job_workflow_ref: /^[^/]+\/[^/]+\//,
  ci_config_ref_uri: /\/\//,
};

/** True when a glob or regex leaves the repository or project part open. */
function wildcardReachesRepository(claim: string, leaf: MatcherLeaf): boolean {
  if (claim !== 'repository' && claim !== 'project_path' && !(claim in REPOSITORY_NAMED)) return false;
  const { index, prefix } = firstWildcard(leaf);
  if (index === -1) return false;
  const named = REPOSITORY_NAMED[claim];
  return named === undefined || !named.test(prefix);
}

function binding(rule: CompiledRule, claim: string): CompiledClaimBinding | undefined {
  return rule.claims.find((candidate) => candidate.claim === claim);
}

function bound(rule: CompiledRule, claim: string): boolean {
  return binding(rule, claim) !== undefined;
}

/** A claim bound to exact, positive values only (no glob, regex or negation). */
function boundExactly(rule: CompiledRule, claim: string): boolean {
  const found = binding(rule, claim);
  return (
    found !== undefined &&
    leaves(found.spec).every(
      (leaf) => leaf.kind === 'string' && !leaf.negated && !hasGlobCharacters(leaf.text, 'claim'),
    )
  );
}

function hasProtectedRef(rule: CompiledRule): boolean {
  const refProtected = binding(rule, 'ref_protected');
  return (
    (refProtected !== undefined &&
      refProtected.matcher.matches(['true']) &&
      !refProtected.matcher.matches(['false'])) ||
    boundExactly(rule, 'ref')
  );
}

function catalogOf(policy: CompiledPolicy, rule: CompiledRule) {
  return claimCatalogFor(policy.issuers.get(rule.issuer)?.url ?? '');
}

function isGitHubRule(policy: CompiledPolicy, rule: CompiledRule): boolean {
  return (
    catalogOf(policy, rule)?.provider === 'GitHub' ||
    bound(rule, 'repository') ||
    bound(rule, 'repository_id') ||
    bound(rule, 'event_name')
  );
}

/** A rough measure of how tightly a rule binds: immutable ids, environment, protected ref, workflow. */
function strength(rule: CompiledRule): number {
  return (
    (ID_CLAIMS.some((claim) => bound(rule, claim)) ? 2 : 0) +
    (bound(rule, 'environment') ? 1 : 0) +
    (hasProtectedRef(rule) ? 1 : 0) +
    (WORKFLOW_CLAIMS.some((claim) => bound(rule, claim)) ? 1 : 0)
  );
}

function grantsOverlap(a: CompiledRule, b: CompiledRule): string | undefined {
  for (const grantA of a.secrets) {
    for (const grantB of b.secrets) {
      if (grantA.glob.intersects(grantB.glob)) return grantA.pattern;
    }
  }
  return undefined;
}

/**
 * Claims a rule binds that its issuer's tokens never carry (by the claims GitHub and GitLab document), with the
 * closest documented claim. Such a rule can never match. Rules of issuers whose claims are not known are skipped.
 */
export function unknownClaims(policy: CompiledPolicy): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const rule of policy.rules) {
    const catalog = catalogOf(policy, rule);
    if (catalog === undefined) continue;
    for (const claim of rule.claims) {
      if (isKnownClaim(catalog, claim.claim)) continue;
      const suggestion = didYouMean(claim.claim, catalog.claims);
      findings.push({
        check: 'unknown-claim',
        severity: 'error',
        rule: rule.name,
        line: claim.line,
        message: `${catalog.provider} ID tokens have no claim ${JSON.stringify(claim.claim)}, so this rule can never match;${suggestion || ` see the claims ${catalog.provider} documents (docs/policy.md)`}`,
      });
    }
  }
  return findings;
}

/**
 * Whether lint knows what a rule's claims mean: its issuer is GitHub or GitLab, or every claim it binds is one
 * GitHub or GitLab documents (a self-hosted instance). A rule of another CI (CircleCI's
 * "oidc.circleci.com/project-id") is not judged by GitHub's and GitLab's claim names.
 */
function claimsUnderstood(policy: CompiledPolicy, rule: CompiledRule): boolean {
  return (
    catalogOf(policy, rule) !== undefined || rule.claims.every((claim) => CI_PROVIDER_CLAIMS.has(claim.claim))
  );
}

function finding(
  check: string,
  severity: LintSeverity,
  rule: CompiledRule,
  line: number,
  message: string,
): LintFinding {
  return { check, severity, rule: rule.name, line, message };
}

/** One check of one rule: its findings, none when the rule passes. */
type RuleCheck = (policy: CompiledPolicy, rule: CompiledRule) => LintFinding[];

function identityClaims(rule: CompiledRule): CompiledClaimBinding[] {
  return rule.claims.filter((claim) => IDENTITY_CLAIMS.has(claim.claim));
}

const bindsNothing: RuleCheck = (policy, rule) => {
  if (identityClaims(rule).length > 0 || !claimsUnderstood(policy, rule)) return [];
  return [
    finding(
      'binds-nothing',
      'error',
      rule,
      rule.line,
      `binds no repository, owner, project or workflow (only ${rule.claims.map((claim) => claim.claim).join(', ')}): every workload of issuer "${rule.issuer}" that matches gets its secrets; bind repository_id (GitHub) or project_id (GitLab)`,
    ),
  ];
};

const nameWithoutId: RuleCheck = (_policy, rule) =>
  Object.entries(NAME_TO_ID).flatMap(([name, id]) => {
    const byName = binding(rule, name);
    if (byName === undefined || bound(rule, id)) return [];
    return [
      finding(
        'name-without-id',
        'warning',
        rule,
        byName.line,
        `binds ${name} by name only: a renamed, transferred or deleted-and-recreated ${name.startsWith('repo') ? 'repository or owner' : 'project or group'} with that name would match; also bind ${id} (secrets-broker policy pin fills it in)`,
      ),
    ];
  });

const ownerWithoutRepository: RuleCheck = (_policy, rule) => {
  const ownerBound = OWNER_CLAIMS.some((claim) => bound(rule, claim));
  const repositoryBound =
    REPOSITORY_CLAIMS.some((claim) => bound(rule, claim)) ||
    bound(rule, 'sub') ||
    WORKFLOW_CLAIMS.some((claim) => bound(rule, claim));
  if (identityClaims(rule).length === 0 || !ownerBound || repositoryBound) return [];
  return [
    finding(
      'owner-wide',
      'warning',
      rule,
      rule.line,
      'binds an owner or group but no repository, project or workflow: every repository of the owner gets these secrets',
    ),
  ];
};

const wildcardRepository: RuleCheck = (_policy, rule) =>
  rule.claims
    .filter((claim) =>
      leaves(claim.spec).some((leaf) => !leaf.negated && wildcardReachesRepository(claim.claim, leaf)),
    )
    .map((claim) =>
      finding(
        'owner-wide',
        'warning',
        rule,
        claim.line,
        `${claim.claim} has a wildcard where the repository or project name goes: it can match every repository or project of the owner; list the exact names`,
      ),
    );

const productionUnprotected: RuleCheck = (_policy, rule) => {
  const production = rule.secrets.find((grant) =>
    grant.pattern.split('/').some((segment) => PRODUCTION_SEGMENT.test(segment)),
  );
  if (production === undefined || bound(rule, 'environment') || hasProtectedRef(rule)) return [];
  return [
    finding(
      'production-unprotected',
      'warning',
      rule,
      production.line,
      `grants production-looking secrets (${production.pattern}) without binding environment or a protected ref: anyone who can push a branch of the repository can get them`,
    ),
  ];
};

const untrustedEvent: RuleCheck = (policy, rule) => {
  if (!isGitHubRule(policy, rule) || bound(rule, 'environment')) return [];
  const event = binding(rule, 'event_name');
  const ref = binding(rule, 'ref');
  const untrusted = UNTRUSTED_EVENTS.filter((name) => event === undefined || event.matcher.matches([name]));
  if (
    ref === undefined ||
    untrusted.length === 0 ||
    !DEFAULT_BRANCHES.some((branch) => ref.matcher.matches([branch]))
  )
    return [];
  return [
    finding(
      'untrusted-event',
      'warning',
      rule,
      event?.line ?? ref.line,
      `${event === undefined ? 'event_name is not bound, so it allows' : 'event_name allows'} ${untrusted.join(' and ')}: these run on the default branch with input from anyone who can open a pull request or comment; bind event_name to push or workflow_dispatch, or bind an environment`,
    ),
  ];
};

const looseRegex: RuleCheck = (_policy, rule) =>
  rule.claims.flatMap((claim) =>
    leaves(claim.spec)
      .filter((candidate) => candidate.kind === 'regex')
      .flatMap((leaf) => {
        const source = leaf.text;
        const unanchored = /^\^?\.[*+]/.test(source) || /\.[*+]\$?$/.test(source);
        const crossesSlash = PATH_CLAIMS.has(claim.claim) && /(^|[^\\])\.[*+]/.test(source);
        if (!unanchored && !crossesSlash) return [];
        return [
          finding(
            'loose-regex',
            'warning',
            rule,
            claim.line,
            `the regex for ${claim.claim} ${unanchored ? 'starts or ends with ".*" or ".+", so it is unanchored in effect' : 'has ".*" or ".+", which can match across "/"'}; use [^/]* (or a glob, where "*" never crosses "/")`,
          ),
        ];
      }),
  );

/** A `when` that can never hold: the rule grants nothing, ever (a load error would be too strict for a rule kept off). */
const conditionNeverHolds: RuleCheck = (_policy, rule) => {
  const time = rule.when?.time;
  if (time?.hours === undefined || !windowIsEmpty(time)) return [];
  return [
    finding(
      'condition-never-holds',
      'warning',
      rule,
      time.hours.line,
      `when.time.hours "${time.hours.text}" starts and ends at the same minute, so the window is empty and the rule never grants anything; write the window you mean (such as "08:00-18:00", or "00:00-24:00" for the whole day)`,
    ),
  ];
};

/** The checks of each rule on its own, in the order their findings are reported for a rule. */
const RULE_CHECKS: readonly RuleCheck[] = [
  bindsNothing,
  nameWithoutId,
  ownerWithoutRepository,
  wildcardRepository,
  productionUnprotected,
  untrustedEvent,
  looseRegex,
  conditionNeverHolds,
];

/** Two rules granting the same secrets where the weaker binds much less: the weaker is the real protection. */
function mixedStrength(policy: CompiledPolicy): LintFinding[] {
  return policy.rules.flatMap((a, index) =>
    policy.rules.slice(index + 1).flatMap((b) => {
      const secret = grantsOverlap(a, b);
      if (secret === undefined) return [];
      const [weak, strong] = strength(a) <= strength(b) ? [a, b] : [b, a];
      if (strength(strong) - strength(weak) < 2) return [];
      return [
        finding(
          'mixed-strength',
          'warning',
          weak,
          weak.line,
          `grants ${secret} like rule "${strong.name}" but binds much less (strength ${strength(weak)} against ${strength(strong)}): the weaker rule is the real protection of those secrets`,
        ),
      ];
    }),
  );
}

/**
 * Known OIDC trust-policy mistakes, each reported with the rule and line. These are judgements on a valid
 * policy: `policy check` already refused anything invalid.
 */
export function lintPolicy(policy: CompiledPolicy): LintFinding[] {
  const findings = [
    ...unknownClaims(policy),
    ...policy.rules.flatMap((rule) => RULE_CHECKS.flatMap((check) => check(policy, rule))),
    ...mixedStrength(policy),
    ...lintIssuers(policy),
  ];
  return findings.sort((x, y) => x.line - y.line);
}
