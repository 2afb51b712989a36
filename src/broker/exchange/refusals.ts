/**
 * The problems an exchange is refused with once its token is admitted, each with the conditions its audit record
 * names. Hints say what holds the request and how to change it; they name only secrets the request asked for
 * (or that its patterns expanded to: granted and stored), never a value.
 */
import { WorkBudgetExceededError, type WorkBudget } from '../../protocol/automaton.js';
import { entryGlobs, type RequestedEntry } from '../../protocol/secret-names.js';
import type { AuditedCondition } from '../audit/audit-records.js';
import { BrokerError } from '../errors.js';
import type { VerifiedToken } from '../oidc/token-verifier.js';
import type { CompiledRule } from '../policy/compiled-policy.js';
import { denialReason } from '../policy/evaluate.js';
import type { FoundSecret, ReleaseOutcome } from '../store/secret-vault.js';
import { RUN_OUTPUT_PREFIX } from '../../protocol/wire-shapes.js';
import { MAX_NAMES_READ } from './release-plan.js';
import { heldBackFor, type HeldBackRule } from './rule-standing.js';
import type { Trail } from './workload-request.js';

/** Reasons one hint gives, and conditions one audit record names: the first few. */
export const MAX_REASONS = 5;

/** A refusal: the problem to answer, and the conditions that decided it (empty when none did). */
export interface Refusal {
  readonly problem: BrokerError;
  readonly conditions: readonly AuditedCondition[];
}

export interface NotGrantedContext {
  readonly entries: readonly RequestedEntry[];
  readonly rules: readonly CompiledRule[];
  readonly verified: VerifiedToken;
  readonly heldBack: readonly HeldBackRule[];
  /** What is left of the exchange's budget: the refusal is decided, only its explanation may be cut short. */
  readonly budget: WorkBudget;
}

/**
 * Entries no rule that holds grants: `condition_failed` when a rule whose claims match would grant each of them
 * but for its `when`, else `policy_denied` (whose hint still names the conditions that hold some of them back).
 */
export function notGrantedRefusal(
  notGranted: readonly string[],
  notFound: readonly string[],
  context: NotGrantedContext,
): Refusal {
  const held = notGranted.map((raw) => ({ raw, by: heldBackOrNone(raw, context) }));
  const conditions = held
    .flatMap(({ by }) => (by === undefined ? [] : [ruleCondition(by)]))
    .slice(0, MAX_REASONS);
  const reasons = held
    .slice(0, MAX_REASONS)
    .map(({ raw, by }) =>
      by === undefined
        ? closestRule(raw, context)
        : `${by.failure.detail}, and that rule is what grants "${raw}" to this workload`,
    );
  if (notGranted.length > MAX_REASONS) reasons.push(`and ${notGranted.length - MAX_REASONS} more`);
  const alsoMissing = notFound.length > 0 ? ` Also granted but not stored: ${notFound.join(', ')}.` : '';
  const options = {
    secrets: [...notGranted, ...notFound],
    extensions: { not_granted: notGranted, not_found: notFound },
  };
  if (held.every(({ by }) => by !== undefined)) {
    const kinds = new Set(held.map(({ by }) => by?.failure.condition));
    const retry = [
      kinds.has('source_ips')
        ? 'run the job from an address the rule allows (behind a proxy: one that forwards the client address)'
        : undefined,
      kinds.has('time') ? "retry when the rule's time window is open" : undefined,
    ].filter((text) => text !== undefined);
    return {
      problem: new BrokerError(
        'condition_failed',
        `not granted now: ${notGranted.join(', ')}; the rule that grants it has a condition ("when") that does not hold for this request. Nothing was released.${alsoMissing}`,
        {
          ...options,
          hint: `${reasons.join('; ')}. ${capitalised(retry.join(', or '))}, or an admin changes the rule's "when" in the policy; "secrets-broker policy explain" shows every rule and condition.`,
        },
      ),
      conditions,
    };
  }
  return {
    problem: new BrokerError(
      'policy_denied',
      `not granted to this workload: ${notGranted.join(', ')}. Nothing was released.${alsoMissing}`,
      {
        ...options,
        hint: `${reasons.join('; ')}. "secrets-broker policy explain" shows every rule against these claims.`,
      },
    ),
    conditions,
  };
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function heldBackOrNone(raw: string, context: NotGrantedContext): HeldBackRule | undefined {
  const entry = entryOf(raw, context.entries);
  try {
    return heldBackFor(entry, context.heldBack, context.budget);
  } catch (error) {
    if (!(error instanceof WorkBudgetExceededError)) throw error;
    return undefined;
  }
}

/** Which rule came closest to granting the entry (each of its alternatives, in the order written). */
function closestRule(raw: string, context: NotGrantedContext): string {
  const { verified } = context;
  try {
    return entryGlobs(entryOf(raw, context.entries))
      .map((glob) => denialReason(context.rules, glob, verified.issuer.name, verified.claims, context.budget))
      .join('; ');
  } catch (error) {
    if (!(error instanceof WorkBudgetExceededError)) throw error;
    return `no rule that matches this workload grants "${raw}" (the closest rule was not worked out: too costly)`;
  }
}

function entryOf(raw: string, entries: readonly RequestedEntry[]): RequestedEntry {
  return entries.find((candidate) => candidate.raw === raw) as RequestedEntry;
}

function ruleCondition({ rule, failure }: HeldBackRule): AuditedCondition {
  return { code: 'condition_failed', condition: failure.condition, rule: rule.name, detail: failure.detail };
}

export function tooWideProblem(tooWide: readonly string[]): BrokerError {
  return new BrokerError(
    'invalid_request',
    `${tooWide.join(', ')} would have to look through more than ${MAX_NAMES_READ} stored names. Nothing was released.`,
    {
      secrets: [...tooWide],
      hint: 'request narrower patterns (a longer literal prefix, such as prod/api/* rather than prod/*), or name the secrets',
    },
  );
}

export function notFoundProblem(notFound: readonly string[]): BrokerError {
  const versioned = notFound.some((entry) => entry.includes('@'));
  const outputs = notFound.some((entry) => entry.startsWith(RUN_OUTPUT_PREFIX));
  const secrets = notFound.some((entry) => !entry.startsWith(RUN_OUTPUT_PREFIX));
  const hints = [
    secrets ? 'an admin stores it with "secrets-broker secret set NAME"' : undefined,
    versioned
      ? 'a version (NAME@3) must be one that "secrets-broker secret versions NAME" lists (not purged)'
      : undefined,
    outputs
      ? 'a run output (run/NAME) is released only to jobs of the run that put it, until its TTL ends: put it in an earlier job of this run (put-outputs)'
      : undefined,
    'or mark the entry optional with a trailing "?"',
  ];
  return new BrokerError(
    'secret_not_found',
    `granted but not stored: ${notFound.join(', ')}. Nothing was released.`,
    { secrets: notFound, hint: hints.filter((hint) => hint !== undefined).join('; ') },
  );
}

/** The refusal's problem, its conditions noted for the audit record. */
export function refusalProblem(trail: Trail, refusal: Refusal): BrokerError {
  trail.conditions = refusal.conditions;
  return refusal.problem;
}

/** The secrets among `release` whose expiry has passed at `now`. */
export function expiredAt(release: readonly FoundSecret[], now: Date): FoundSecret[] {
  return release.filter(
    ({ conditions }) =>
      conditions.expiresAt !== undefined && Date.parse(conditions.expiresAt) <= now.getTime(),
  );
}

export function expiredRefusal(expired: readonly FoundSecret[]): Refusal {
  const names = [...new Set(expired.map((secret) => secret.name))];
  const when = expired.map((secret) => `"${secret.name}" expired at ${secret.conditions.expiresAt}`);
  return {
    problem: new BrokerError('secret_expired', `expired: ${names.join(', ')}. Nothing was released.`, {
      secrets: names,
      hint: `${when.slice(0, MAX_REASONS).join('; ')}. An admin who wants it released again sets a later expiry with "secrets-broker secret update ${names.length === 1 ? names[0] : 'NAME'} --expires DATE|DURATION" (and usually stores a fresh value with "secrets-broker secret set")`,
    }),
    conditions: expired.slice(0, MAX_REASONS).map((secret) => ({
      code: 'secret_expired',
      condition: 'expires',
      secret: secret.name,
      detail: `expired at ${secret.conditions.expiresAt}`,
    })),
  };
}

/** The refusal of recordReleases for a budget or rotation, named after the secret it names. */
export function releaseRefusal(
  outcome: Extract<ReleaseOutcome, { refused: 'read_budget_exhausted' | 'rotation_required' }>,
  release: readonly FoundSecret[],
): Refusal {
  if (outcome.refused === 'read_budget_exhausted') {
    const secret = release.find((found) => found.name === outcome.name) as FoundSecret;
    const { maxReads } = secret.conditions;
    const budget =
      maxReads === undefined
        ? 'its read budget'
        : `its read budget of ${maxReads.count} per ${maxReads.periodSeconds} s`;
    const detail = `"${outcome.name}" has used ${budget}; the window ends in ${outcome.retryAfterSeconds} s`;
    return {
      problem: new BrokerError(
        'read_budget_exhausted',
        `${detail}. Nothing was released, and no read was counted.`,
        {
          secrets: [outcome.name],
          hint: `retry in ${outcome.retryAfterSeconds} s with a fresh token (the Retry-After delay); an admin can raise the budget with "secrets-broker secret update ${outcome.name} --max-reads N/PERIOD"`,
          extensions: { retry_after: outcome.retryAfterSeconds },
        },
      ),
      conditions: [{ code: outcome.refused, condition: 'max_reads', secret: outcome.name, detail }],
    };
  }
  const secret = release.find(
    (found) => found.name === outcome.name && found.version === outcome.version,
  ) as FoundSecret;
  const limit = secret.conditions.rotateAfterReads ?? secret.releases;
  const detail = `version ${outcome.version} of "${outcome.name}" was released ${limit} times, its rotate-after-reads limit`;
  const rotate = `"secrets-broker secret set ${outcome.name}"`;
  const raise = `"secrets-broker secret update ${outcome.name} --rotate-after-reads N"`;
  return {
    problem: new BrokerError(
      'rotation_required',
      `${detail}: that version is not released again. Nothing was released.`,
      {
        secrets: [outcome.name],
        hint: secret.isCurrent
          ? `an admin rotates it: stores a new value with ${rotate} (or changes the limit with ${raise})`
          : `version ${outcome.version} is an older version, not current: ask for "${outcome.name}" (its current version) instead, or an admin changes the limit with ${raise}`,
      },
    ),
    conditions: [{ code: outcome.refused, condition: 'rotate_after_reads', secret: outcome.name, detail }],
  };
}
