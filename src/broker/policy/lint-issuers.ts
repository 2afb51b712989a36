/**
 * Lint checks of the issuers (rather than of the rules): pinned keys near or past the end of the validity their
 * file declares, tokens that live long without being bound to the job's key, and binding the provider cannot do.
 */
import type { CompiledPolicy, IssuerConfig } from './compiled-policy.js';
import { claimCatalogFor } from './known-claims.js';
import { isoDate, keysValidAt } from './pinned-keys.js';

/** A finding of an issuer, shaped as lint.ts's LintFinding (lint.ts imports this module, so not the other way). */
export interface IssuerFinding {
  readonly check:
    | 'pinned-key-expiring'
    | 'pinned-key-expired'
    | 'pinned-key-not-yet-valid'
    | 'pinned-keys-none-valid'
    | 'long-token-age'
    | 'binding-impossible';
  readonly severity: 'warning';
  /** The issuer's path in the policy (`issuers.NAME`), in the field that names a rule for rule findings. */
  readonly rule: string;
  /** The issuer's name: what tells an issuer finding from a rule's (rule names may contain "."). */
  readonly issuer: string;
  readonly line: number;
  readonly message: string;
}

/** How long before a pinned key's declared end lint starts to warn: time to get and pin the issuer's next key. */
export const PINNED_KEY_WARNING_DAYS = 30;
/** Above this, an unbound token that leaks stays usable for too long (the default max_token_age is 10 minutes). */
export const LONG_TOKEN_AGE_SECONDS = 10 * 60;
const DAY_SECONDS = 24 * 3600;

/** What issuer findings carry in IssuerFinding.rule: the issuer's path in the policy, as load errors name it. */
export function issuerFindingName(issuer: IssuerConfig): string {
  return `issuers.${issuer.name}`;
}

/** The issuer's line in the policy file, where the compiled policy records it (else the top of the file). */
function issuerFinding(check: IssuerFinding['check'], issuer: IssuerConfig, message: string): IssuerFinding {
  return {
    check,
    severity: 'warning',
    rule: issuerFindingName(issuer),
    issuer: issuer.name,
    line: issuer.line,
    message,
  };
}

function keyName(kid: string | undefined, index: number): string {
  return kid === undefined ? `key ${index + 1}` : `key ${JSON.stringify(kid)}`;
}

/**
 * Pinned keys whose declared validity has ended, ends within PINNED_KEY_WARNING_DAYS or has not started, and an
 * issuer with no key valid now.
 */
function pinnedKeyValidity(issuer: IssuerConfig, nowSeconds: number): IssuerFinding[] {
  const set = issuer.pinnedKeys;
  if (set === undefined) return [];
  const findings = set.keys.flatMap((key, index) => {
    const name = `${keyName(key.kid, index)} pinned for issuer "${issuer.name}" (${set.source})`;
    if (key.notBefore !== undefined && key.notBefore > nowSeconds)
      return [
        issuerFinding(
          'pinned-key-not-yet-valid',
          issuer,
          `${name} starts its declared validity at ${isoDate(key.notBefore)}: until then tokens signed with it are refused`,
        ),
      ];
    if (key.notAfter === undefined) return [];
    if (key.notAfter <= nowSeconds)
      return [
        issuerFinding(
          'pinned-key-expired',
          issuer,
          `${name} ended its declared validity at ${isoDate(key.notAfter)}: tokens signed with it are refused; remove it and pin the issuer's current key`,
        ),
      ];
    const daysLeft = Math.ceil((key.notAfter - nowSeconds) / DAY_SECONDS);
    if (daysLeft > PINNED_KEY_WARNING_DAYS) return [];
    return [
      issuerFinding(
        'pinned-key-expiring',
        issuer,
        `${name} ends its declared validity at ${isoDate(key.notAfter)} (in ${daysLeft} day${daysLeft === 1 ? '' : 's'}): tokens signed with it are refused after that; pin the issuer's next key next to it before then (docs/operations.md, "Pinned issuer keys: rotating them")`,
      ),
    ];
  });
  if (keysValidAt(set, nowSeconds).length === 0)
    findings.push(
      issuerFinding(
        'pinned-keys-none-valid',
        issuer,
        `no key pinned for issuer "${issuer.name}" (${set.source}) is within its declared validity now: every token of this issuer is refused (unavailable); pin the issuer's current key`,
      ),
    );
  return findings;
}

function isGitLab(issuer: IssuerConfig): boolean {
  return claimCatalogFor(issuer.url)?.provider === 'GitLab';
}

/** An unbound token that leaks works until it is max_token_age old: long ages widen that window. */
function longTokenAge(issuer: IssuerConfig): IssuerFinding[] {
  if (issuer.keyBinding === 'required' || issuer.maxTokenAgeSeconds <= LONG_TOKEN_AGE_SECONDS) return [];
  const minutes = Math.ceil(issuer.maxTokenAgeSeconds / 60);
  const fix = isGitLab(issuer)
    ? "lower max_token_age to 10m or less (GitLab fixes the audience of id_tokens, so its tokens cannot be bound to the job's key)"
    : "lower max_token_age to 10m or less, or set key_binding: required so a token works only with the job's own key";
  return [
    issuerFinding(
      'long-token-age',
      issuer,
      `issuer "${issuer.name}" accepts tokens up to ${minutes} minutes old without requiring them to be bound to the job's key (key_binding: ${issuer.keyBinding}): a token that leaks before it is used works for that long; ${fix}`,
    ),
  ];
}

/** key_binding: required where the provider fixes the audience: no token can be bound, so every one is refused. */
function bindingImpossible(issuer: IssuerConfig): IssuerFinding[] {
  if (issuer.keyBinding !== 'required' || !isGitLab(issuer)) return [];
  return [
    issuerFinding(
      'binding-impossible',
      issuer,
      `issuer "${issuer.name}" is GitLab, which fixes the audience of id_tokens in .gitlab-ci.yml, so no token can carry the job's key and key_binding: required refuses every token; set key_binding: optional and keep max_token_age short`,
    ),
  ];
}

/** The issuer checks of policy lint, in policy order (warnings). */
export function lintIssuers(
  policy: CompiledPolicy,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): IssuerFinding[] {
  return [...policy.issuers.values()].flatMap((issuer) => [
    ...bindingImpossible(issuer),
    ...longTokenAge(issuer),
    ...pinnedKeyValidity(issuer, nowSeconds),
  ]);
}
