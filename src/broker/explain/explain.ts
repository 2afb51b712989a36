import { WorkBudget, type Meter } from '../../protocol/automaton.js';
import { entryGlobs, parseRequestedEntry } from '../../protocol/secret-names.js';
import {
  checkTokenBeforeSignature,
  checkTokenClaims,
  MAX_TOKEN_BYTES,
  type FormCheck,
  type TokenBeforeSignature,
  type TokenCheck,
} from '../oidc/token-checks.js';
import { BrokerError } from '../errors.js';
import { unverifiedClaims, verifyPinnedSignature } from '../oidc/token-verifier.js';
import { printable } from '../../protocol/printable.js';
import { quoted } from '../../protocol/quoted.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { checkConditions, type ConditionCheck } from '../policy/conditions.js';
import {
  denialReason,
  evaluateRules,
  Grants,
  type ClaimCheck,
  type RuleEvaluation,
} from '../policy/evaluate.js';

/**
 * Matching steps one explanation may spend: every claim of every rule and each entry against every grant are
 * worked out, so it may take more than an exchange, but it stays bounded (WorkBudgetExceededError beyond).
 */
export const EXPLAIN_STEPS = 2_000_000;

export interface RuleExplanation {
  readonly name: string;
  readonly line: number;
  readonly issuer: string;
  readonly issuer_matches: boolean;
  /** The issuer and every claim match. */
  readonly matched: boolean;
  readonly claims: readonly ClaimCheck[];
  /** The rule's `when` conditions, each checked against the address and time given (none: the rule has no when). */
  readonly conditions: readonly ConditionCheck[];
  /** The rule grants: it matches and no condition fails (a condition not checked, for want of an address, counts as holding). */
  readonly grants: boolean;
}

export interface SecretExplanation {
  readonly entry: string;
  readonly granted: boolean;
  /** Matched rules that grant it. */
  readonly rules: readonly string[];
  /** Why not, when not granted. */
  readonly reason: string | null;
  /** When granted only if a condition not checked here holds: which (give the address to check it). */
  readonly assumes: string | null;
}

/** What the rule conditions are checked against: the client address (unknown when not given) and a time. */
export interface ExplainConditions {
  readonly sourceIp?: string | undefined;
  /** Default: now. */
  readonly at?: Date | undefined;
}

export interface TokenCheckExplanation {
  readonly check: TokenCheck | 'unused';
  readonly result: 'passed' | 'failed' | 'not_checked';
  readonly detail: string;
}

/** What the broker decides for a token before any rule: every check it makes, in its order. */
export interface TokenExplanation {
  readonly checks: readonly TokenCheckExplanation[];
  /** The broker's refusal (its first failed check), or null when every check made here passes. */
  readonly refused: {
    readonly check: TokenCheck;
    readonly code: string;
    readonly detail: string;
    readonly hint: string | null;
  } | null;
  /**
   * Whether the signature was checked: only for an issuer whose keys the policy pins (offline, by
   * explainTokenWithKeys); a discovered issuer's keys are not fetched here.
   */
  readonly signature_checked: boolean;
}

export interface Explanation {
  /** The token checks, when a token (not bare claims) was explained. */
  readonly token: TokenExplanation | null;
  readonly issuer: string | null;
  readonly issuer_url: string | null;
  readonly note: string | null;
  /** The client address the conditions were checked for; null when not given (source_ips is then not checked). */
  readonly source_ip: string | null;
  /** The time the conditions were checked at (ISO 8601); null for the time of the explanation. */
  readonly at: string | null;
  readonly rules: readonly RuleExplanation[];
  /** The rules that grant: they match and no condition of theirs fails. */
  readonly matched_rules: readonly string[];
  readonly secrets: readonly SecretExplanation[];
}

/**
 * What the policy decides for a set of claims, rule by rule and claim by claim, and for each requested entry.
 * It uses the same evaluation as the exchange; it does not verify any signature and does not look at the store.
 */
export function explainDecision(
  policy: CompiledPolicy,
  claims: Readonly<Record<string, unknown>>,
  requested: readonly string[],
  budget: Meter = new WorkBudget(EXPLAIN_STEPS),
  conditions: ExplainConditions = {},
): Explanation {
  const issuerUrl = typeof claims.iss === 'string' ? claims.iss : null;
  const issuer = issuerUrl === null ? undefined : policy.issuersByUrl.get(issuerUrl);
  const issuerName = issuer?.name ?? '';
  const now = conditions.at ?? new Date();
  const rules = evaluateRules(policy, issuerName, claims, budget).map((evaluation) =>
    explainRule(evaluation, checkConditions(evaluation.rule, { sourceIp: conditions.sourceIp, now })),
  );
  const granting = rules.filter((rule) => rule.explanation.grants);
  const grants = new Grants(
    granting.map((rule) => rule.evaluation.rule),
    budget,
  );
  // Rules whose claims match but whose when fails: they would grant, and name the condition in a denial.
  const held = new Grants(
    rules
      .filter((rule) => rule.explanation.matched && !rule.explanation.grants)
      .map((rule) => rule.evaluation.rule),
    budget,
  );
  const note =
    issuer !== undefined
      ? null
      : issuerUrl === null
        ? 'the claims have no "iss": no rule can match'
        : `issuer ${issuerUrl} is not in the policy: the broker refuses its tokens (unknown_issuer) before any rule is checked`;
  return {
    token: null,
    issuer: issuer?.name ?? null,
    issuer_url: issuerUrl,
    note,
    source_ip: conditions.sourceIp ?? null,
    at: conditions.at?.toISOString() ?? null,
    rules: rules.map((rule) => rule.explanation),
    matched_rules: grants.matchedRuleNames,
    secrets: requested.map((raw) => {
      // A pattern is granted when a granting rule grants some name it matches, as the exchange decides; an entry
      // with alternatives when one of them is (the first granted one that is stored is released).
      const globs = entryGlobs(parseRequestedEntry(raw));
      const granting = globs.map((glob) => grants.rulesGranting(glob));
      const ruleNames = granting.find((names) => names.length > 0) ?? [];
      const granted = ruleNames.length > 0;
      return {
        entry: raw,
        granted,
        rules: ruleNames,
        reason: granted
          ? null
          : globs
              .map((glob) =>
                deniedBecause(rules, held.rulesGranting(glob), () =>
                  denialReason(policy.rules, glob, issuerName || '(none)', claims, budget),
                ),
              )
              .join('; '),
        assumes: granted ? assumption(rules, ruleNames) : null,
      };
    }),
  };
}

interface ExplainedRule {
  readonly evaluation: RuleEvaluation;
  readonly explanation: RuleExplanation;
}

function explainRule(evaluation: RuleEvaluation, conditions: ConditionCheck[]): ExplainedRule {
  return {
    evaluation,
    explanation: {
      name: evaluation.rule.name,
      line: evaluation.rule.line,
      issuer: evaluation.rule.issuer,
      issuer_matches: evaluation.issuerMatches,
      matched: evaluation.matched,
      claims: evaluation.checks,
      conditions,
      grants: evaluation.matched && conditions.every((check) => check.holds !== false),
    },
  };
}

function conditionFailure(check: ConditionCheck): string {
  return check.condition === 'source_ips'
    ? `condition source_ips fails: the client address ${check.actual ?? ''} is not in ${check.expected}`
    : `condition time fails: it is ${check.actual ?? ''}, the rule allows ${check.expected}`;
}

/** A denial: the first rule whose claims match but whose conditions fail, else why no rule matches. */
function deniedBecause(
  rules: readonly ExplainedRule[],
  heldBack: readonly string[],
  otherwise: () => string,
): string {
  const rule = rules.find((candidate) => candidate.explanation.name === heldBack[0]);
  if (rule === undefined) return otherwise();
  const failures = rule.explanation.conditions.filter((check) => check.holds === false).map(conditionFailure);
  return `rule "${rule.explanation.name}": claims match but ${failures.join(', and ')} (the broker answers condition_failed)`;
}

/** For a grant that relies on a condition not checked here (no address given), which. */
function assumption(rules: readonly ExplainedRule[], ruleNames: readonly string[]): string | null {
  const granting = rules.filter((rule) => ruleNames.includes(rule.explanation.name));
  if (granting.some((rule) => rule.explanation.conditions.every((check) => check.holds !== null)))
    return null;
  const unchecked = granting.map(
    (rule) =>
      `rule "${rule.explanation.name}" allows only client addresses in ${rule.explanation.conditions.find((check) => check.holds === null)?.expected ?? ''}`,
  );
  return `${unchecked.join('; ')}: not checked, give a client address (--source-ip) to check it`;
}

const ALL_CHECKS: readonly TokenCheck[] = [
  'size',
  'encoding',
  'issuer',
  'algorithm',
  'signature',
  'required_claims',
  'audience',
  'issued_at',
  'not_before',
  'expiry',
  'token_age',
  'replay_key',
];

const UNUSED_NOT_CHECKED =
  'not checked here: only the broker knows whether this token was already used (a second use is refused with token_replayed)';

const SIGNATURE_NOT_CHECKED =
  "not checked here (it needs the issuer's keys); the broker checks it after the algorithm and before the claims";

function refusal(check: TokenCheck, error: BrokerError): NonNullable<TokenExplanation['refused']> {
  return { check, code: error.code, detail: error.message, hint: error.hint ?? null };
}

/** A token refused at or before its signature: the checks before the failed one passed, the ones after were not reached. */
function explainFormFailure(check: FormCheck | 'signature', error: BrokerError): TokenExplanation {
  const failedAt = ALL_CHECKS.indexOf(check);
  const checks = ALL_CHECKS.map((each, index): TokenCheckExplanation => {
    if (index < failedAt) return { check: each, result: 'passed', detail: 'passed' };
    if (index === failedAt) return { check: each, result: 'failed', detail: error.message };
    return {
      check: each,
      result: 'not_checked',
      detail: 'not reached: the broker stops at the first failure',
    };
  });
  return { checks, refused: refusal(check, error), signature_checked: check === 'signature' };
}

/** The checks before the claims, for a token that passed them; the signature as `signature` says. */
function formChecksPassed(
  token: string,
  { header, issuer }: TokenBeforeSignature,
  signature: TokenCheckExplanation = {
    check: 'signature',
    result: 'not_checked',
    detail: SIGNATURE_NOT_CHECKED,
  },
): TokenCheckExplanation[] {
  return [
    { check: 'size', result: 'passed', detail: `${token.length} bytes; the limit is ${MAX_TOKEN_BYTES}` },
    { check: 'encoding', result: 'passed', detail: 'a compact JWT in canonical base64url' },
    {
      check: 'issuer',
      result: 'passed',
      detail: `"${issuer.name}" (${issuer.url}) is in the policy's issuers`,
    },
    {
      check: 'algorithm',
      result: 'passed',
      detail: `${String(header.alg)}; issuer "${issuer.name}" allows ${issuer.algorithms.join(', ')}`,
    },
    signature,
  ];
}

/** Every check the broker makes of a token, run without its keys: all but the signature. */
export function explainTokenChecks(
  policy: CompiledPolicy,
  token: string,
  nowSeconds: number,
): TokenExplanation {
  const form = checkTokenBeforeSignature(token, policy);
  if (!form.passed) return explainFormFailure(form.check, form.error);
  return explainClaimChecks(token, form.token, nowSeconds);
}

/**
 * Every check the broker makes of a token, the signature included where the policy pins the issuer's keys: it is
 * then verified offline with them (no request), as the broker would. A discovered issuer's signature is not checked.
 */
export async function explainTokenChecksWithKeys(
  policy: CompiledPolicy,
  token: string,
  nowSeconds: number,
): Promise<TokenExplanation> {
  const form = checkTokenBeforeSignature(token, policy);
  if (!form.passed) return explainFormFailure(form.check, form.error);
  const { header, issuer } = form.token;
  const pinned = issuer.pinnedKeys;
  if (pinned === undefined) return explainClaimChecks(token, form.token, nowSeconds);
  try {
    await verifyPinnedSignature(token, issuer, pinned, header.kid, nowSeconds);
  } catch (error) {
    if (error instanceof BrokerError) return explainFormFailure('signature', error);
    throw error;
  }
  const key = header.kid === undefined ? 'a key' : `the key ${quoted(header.kid)}`;
  return explainClaimChecks(token, form.token, nowSeconds, {
    check: 'signature',
    result: 'passed',
    detail: `verified offline with ${key} pinned for issuer "${issuer.name}" (${printable(pinned.source)})`,
  });
}

/** The checks after the signature, for a token that passed the ones before it. */
function explainClaimChecks(
  token: string,
  form: TokenBeforeSignature,
  nowSeconds: number,
  signature?: TokenCheckExplanation,
): TokenExplanation {
  const { claims, issuer } = form;
  const results = checkTokenClaims(token, claims, issuer, nowSeconds);
  const checks: TokenCheckExplanation[] = [
    ...formChecksPassed(token, form, signature),
    ...results.map((result): TokenCheckExplanation => ({
      check: result.check,
      result: result.passed ? 'passed' : 'failed',
      detail: result.detail,
    })),
    { check: 'unused', result: 'not_checked', detail: UNUSED_NOT_CHECKED },
  ];
  const failure = results.find((result) => !result.passed);
  return {
    checks,
    refused: failure?.error === undefined ? null : refusal(failure.check, failure.error),
    signature_checked: signature?.result === 'passed',
  };
}

/**
 * What the broker decides for an ID token: every check it makes of the token (all but the signature, which
 * needs the issuer's keys), then the policy for its claims. A token the broker would refuse is granted
 * nothing, whatever its claims match.
 */
export function explainToken(
  policy: CompiledPolicy,
  token: string,
  requested: readonly string[],
  nowSeconds: number = Math.floor(Date.now() / 1000),
  budget: Meter = new WorkBudget(EXPLAIN_STEPS),
  conditions: ExplainConditions = {},
): Explanation {
  return withDecision(
    policy,
    token,
    explainTokenChecks(policy, token, nowSeconds),
    requested,
    budget,
    conditions,
  );
}

/**
 * As explainToken, and the signature too where the policy pins the issuer's keys (verified offline, no request:
 * `policy explain --token` and the admin API's explain).
 */
export async function explainTokenWithKeys(
  policy: CompiledPolicy,
  token: string,
  requested: readonly string[],
  nowSeconds: number = Math.floor(Date.now() / 1000),
  budget: Meter = new WorkBudget(EXPLAIN_STEPS),
  conditions: ExplainConditions = {},
): Promise<Explanation> {
  const checks = await explainTokenChecksWithKeys(policy, token, nowSeconds);
  return withDecision(policy, token, checks, requested, budget, conditions);
}

/** The policy's decision for the token's claims; nothing is granted to a token the broker would refuse. */
function withDecision(
  policy: CompiledPolicy,
  token: string,
  tokenExplanation: TokenExplanation,
  requested: readonly string[],
  budget: Meter,
  conditions: ExplainConditions,
): Explanation {
  const decision = explainDecision(policy, unverifiedClaims(token) ?? {}, requested, budget, conditions);
  const refused = tokenExplanation.refused;
  if (refused === null) return { ...decision, token: tokenExplanation };
  return {
    ...decision,
    token: tokenExplanation,
    secrets: decision.secrets.map((secret) => ({
      entry: secret.entry,
      granted: false,
      rules: [],
      reason: `the broker refuses the token before any rule is checked (${refused.code}: ${refused.detail})`,
      assumes: null,
    })),
  };
}
