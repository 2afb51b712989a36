/**
 * What an exchange and a list request share: the workload's token verified and admitted (fresh on this replica,
 * its workload within its limit), the requested entries parsed, and the audit record that spends the token.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { printable } from '../../protocol/printable.js';
import {
  parseRequestedEntry,
  RequestedEntryError,
  type RequestedEntry,
} from '../../protocol/secret-names.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditedCondition, AuditRecord } from '../audit/audit-records.js';
import { claimedIdentity, NO_IDENTITY, workloadIdentity, type WorkloadIdentity } from '../audit/workload.js';
import { BrokerError, toBrokerError } from '../errors.js';
import type { BrokerMetrics } from '../metrics.js';
import {
  CLOCK_LEEWAY_SECONDS,
  unverifiedClaims,
  type TokenVerifier,
  type VerifiedToken,
} from '../oidc/token-verifier.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import { TokenAlreadyUsedError, type TokenUse } from '../store/interfaces.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { WorkBudget } from '../../protocol/automaton.js';
import type { Clock } from './clock.js';
import { planRelease, type ReleasePlan, type StoredNames } from './release-plan.js';
import { ruleStanding, type HeldBackRule } from './rule-standing.js';
import type { SpentTokens } from './spent-tokens.js';
import { checkKeyBinding, type PresentedKey } from './key-binding-check.js';

/**
 * Automaton steps one request may spend matching its token's claims and requested patterns, and explaining a
 * denial (a few milliseconds of CPU at most). Real requests use a small fraction; hostile claims or patterns are
 * refused instead of holding the event loop. Testing a name against a plain "prefix*" glob is not charged: it
 * is a string comparison, like testing it against a name.
 */
export const MATCH_STEPS_PER_EXCHANGE = 250_000;

/** Used (iss, jti) pairs are kept this long past the last moment the token could still be accepted. */
const REPLAY_RETENTION_MARGIN_SECONDS = 3600;
/** Requested entries kept in the audit record of a request whose token did not verify. */
const MAX_UNVERIFIED_ENTRIES_AUDITED = 5;

export interface RequestContext {
  readonly requestId: string;
  readonly sourceIp: string;
}

/** A request the HTTP layer refused for its token or its body: audited like every request, then answered. */
export interface RefusedRequest extends RequestContext {
  /** The bearer token when there was one (what it claims goes in the audit record, never trusted). */
  readonly token: string | undefined;
  readonly problem: BrokerError;
}

export type RequestOutcome = 'allowed' | 'denied' | 'error';

/** The outcome an audit record and metrics give for the problem a request answered (none when it succeeded). */
export function requestOutcome(failure: BrokerError | undefined): RequestOutcome {
  if (failure === undefined) return 'allowed';
  return failure.code === 'unavailable' || failure.code === 'internal' ? 'error' : 'denied';
}

/** What a request came to: the response, or the problem to answer. */
export type Result<Response> =
  | { readonly response: Response; readonly failure?: undefined }
  | { readonly response?: undefined; readonly failure: BrokerError };

/** What the audit record will say: what the request brought, then filled in as the request gets further. */
export interface Trail {
  readonly context: RequestContext;
  readonly started: number;
  readonly token: string | undefined;
  readonly requested: readonly string[];
  verified: VerifiedToken | undefined;
  rules: readonly string[];
  conditions: readonly AuditedCondition[];
  /** Set once the token verified and its workload is within its limit: its single use commits with the record. */
  tokenUse: TokenUse | undefined;
  /**
   * The token's use is already decided in the store: recorded with an exchange's counts, or found there by them
   * (a replay). The record is then appended without it.
   */
  tokenUseDecided: boolean;
}

export function startTrail(
  context: RequestContext,
  token: string | undefined,
  requested: readonly string[],
): Trail {
  return {
    context: { requestId: context.requestId, sourceIp: context.sourceIp },
    started: performance.now(),
    token,
    requested,
    verified: undefined,
    rules: [],
    conditions: [],
    tokenUse: undefined,
    tokenUseDecided: false,
  };
}

export interface WorkloadRequestDependencies {
  readonly policy: PolicyHolder;
  readonly verifier: TokenVerifier;
  readonly audit: AuditLog;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** Per workload (issuer and repository or project), in a map of their own: address floods cannot evict them. */
  readonly workloadLimits: TokenBuckets;
  readonly spentTokens: SpentTokens;
  /** The time conditions are decided by. */
  readonly clock: Clock;
}

/** A verified token of a workload within its limit, not yet spent. */
export interface Admitted {
  readonly policy: CompiledPolicy;
  readonly verified: VerifiedToken;
  readonly tokenUse: TokenUse;
}

/** What a request's entries come to under the rules that hold for it now. */
export interface PlannedRequest {
  readonly plan: ReleasePlan;
  /** Rules whose claims match but whose `when` does not hold now: they grant nothing, and explain denials. */
  readonly heldBack: readonly HeldBackRule[];
  /** What is left of the request's matching budget. */
  readonly budget: WorkBudget;
  /** The time the conditions were decided at (the clock read once per request). */
  readonly now: Date;
}

/** A workload's requests, from the token to the audit record: shared by the exchange and the list. */
export class WorkloadRequests {
  constructor(private readonly deps: WorkloadRequestDependencies) {}

  get logger(): Logger {
    return this.deps.logger;
  }

  /**
   * Runs `work` (or takes the refusal `refused`) and audits it with the record `recordOf` makes. Throws
   * BrokerError; answers nothing unless the audit record is written.
   */
  async handle<Response>(
    trail: Trail,
    refused: BrokerError | undefined,
    work: () => Promise<Response>,
    recordOf: (result: Result<Response>) => AuditRecord,
  ): Promise<Response> {
    const attempted = refused === undefined ? await this.attempt(trail, work) : { failure: refused };
    const answer = await this.audited(trail, attempted, recordOf);
    if (answer.failure !== undefined) throw answer.failure;
    return answer.response;
  }

  /**
   * Verifies the token and admits it: refused before the token is spent when it is not bound to the key the
   * request presents (or unbound where its issuer requires binding), this replica saw it spent, or its workload is
   * over its limit.
   */
  async admit(token: string, trail: Trail, presented: PresentedKey | undefined): Promise<Admitted> {
    const policy = this.deps.policy.current;
    const verified = await this.deps.verifier.verify(token, policy);
    trail.verified = verified;
    await checkKeyBinding(verified, presented);
    const tokenUse = tokenUseOf(verified);
    // A token this replica saw spent is refused before anything else is done for it (the store decides for
    // tokens spent on other replicas).
    if (this.deps.spentTokens.has(tokenUse)) throw tokenReplayed();
    const workload = workloadIdentity(verified.claims);
    const subject = workload.repository ?? workload.sub ?? 'this workload';
    const wait = this.deps.workloadLimits.take(
      `workload:${verified.issuer.url}:${subject}`,
      policy.limits.perWorkload,
    );
    if (wait > 0) {
      throw new BrokerError(
        'rate_limited',
        `too many requests for ${printable(subject)}; retry in ${wait} s`,
        {
          hint: 'the token was not spent, but request a fresh one for the retry anyway; an admin can raise limits.per_workload in the policy',
          extensions: { retry_after: wait },
        },
      );
    }
    return { policy, verified, tokenUse };
  }

  /** The rules that hold for the admitted token now (noted in the trail), and the entries planned under them. */
  async plan(
    entries: readonly RequestedEntry[],
    { policy, verified }: Admitted,
    trail: Trail,
    storedNames: StoredNames,
  ): Promise<PlannedRequest> {
    const now = this.deps.clock.now();
    const budget = new WorkBudget(MATCH_STEPS_PER_EXCHANGE);
    // A request refused for its matching cost spends its token: one token cannot buy that cost twice.
    const standing = ruleStanding(policy, verified, { sourceIp: trail.context.sourceIp, now }, budget);
    trail.rules = standing.grants.matchedRuleNames;
    const plan = await planRelease(entries, standing.grants, storedNames, budget);
    return { plan, heldBack: standing.heldBack, budget, now };
  }

  /**
   * The token's use was decided with an exchange's counts (recorded, or found recorded before): this replica
   * remembers it spent, and the audit record will not record it again.
   */
  tokenUseDecided(trail: Trail): void {
    trail.tokenUseDecided = true;
    if (trail.tokenUse !== undefined) this.deps.spentTokens.remember(trail.tokenUse);
  }

  /** The request up to its audit record; whatever stops it becomes the problem to answer. */
  private async attempt<Response>(trail: Trail, work: () => Promise<Response>): Promise<Result<Response>> {
    try {
      return { response: await work() };
    } catch (error) {
      const failure = toBrokerError(error, 'exchange', (event, detail) =>
        this.deps.logger.error({ request_id: trail.context.requestId, error: detail }, event),
      );
      return { failure };
    }
  }

  /** Writes the request's audit record and answers what it says; when it cannot be written, nothing is answered. */
  private async audited<Response>(
    trail: Trail,
    attempted: Result<Response>,
    recordOf: (result: Result<Response>) => AuditRecord,
  ): Promise<Result<Response>> {
    try {
      return await this.recordSpendingToken(trail, attempted, recordOf);
    } catch (error) {
      return this.auditUnwritten(trail, error);
    }
  }

  /**
   * The token's single use commits with the record: a token the store has seen answers nothing, and the replay
   * is recorded instead.
   */
  private async recordSpendingToken<Response>(
    trail: Trail,
    attempted: Result<Response>,
    recordOf: (result: Result<Response>) => AuditRecord,
  ): Promise<Result<Response>> {
    const fresh = await this.appendUnlessReplayed(
      recordOf(attempted),
      trail.tokenUseDecided ? undefined : trail.tokenUse,
    );
    if (trail.tokenUse !== undefined) this.deps.spentTokens.remember(trail.tokenUse);
    if (fresh) return attempted;
    const replayed = { failure: tokenReplayed() };
    await this.deps.audit.append(recordOf(replayed));
    return replayed;
  }

  /** Appends the record with the token's use; false, appending nothing, when the token was used before. */
  private async appendUnlessReplayed(record: AuditRecord, tokenUse: TokenUse | undefined): Promise<boolean> {
    try {
      await this.deps.audit.append(record, tokenUse);
      return true;
    } catch (error) {
      if (error instanceof TokenAlreadyUsedError) return false;
      throw error;
    }
  }

  private auditUnwritten<Response>(trail: Trail, error: unknown): Result<Response> {
    this.deps.metrics.auditFailures.inc();
    this.deps.logger.error(
      {
        request_id: trail.context.requestId,
        error: error instanceof Error ? error.message : String(error),
      },
      'audit record could not be written; releasing nothing',
    );
    return {
      failure: new BrokerError(
        'unavailable',
        'the audit record of this request could not be written, so nothing was released',
        { hint: "retry later; an operator must check the broker's audit storage" },
      ),
    };
  }
}

/** The fields every record of a workload's request has: what was asked, by whom, and what came of it. */
export function workloadRecordFields(trail: Trail, failure: BrokerError | undefined) {
  const { verified } = trail;
  // What a token that did not verify claimed, decoded for the record (never trusted for a decision).
  const unverified = verified === undefined && trail.token !== undefined;
  const claimed = unverified ? unverifiedClaims(trail.token as string) : undefined;
  const identity: WorkloadIdentity = verified === undefined ? NO_IDENTITY : workloadIdentity(verified.claims);
  return {
    time: new Date().toISOString(),
    request_id: trail.context.requestId,
    source_ip: trail.context.sourceIp,
    outcome: requestOutcome(failure),
    code: failure?.code ?? null,
    token_verified: verified !== undefined,
    issuer: verified?.issuer.name ?? null,
    issuer_url: verified?.issuer.url ?? claimedIssuer(claimed),
    // Only a verified token's identity goes in the identity fields (what audit queries filter on); what an
    // unverified one claimed is kept apart, escaped.
    ...identity,
    claimed: unverified ? claimedIdentity(claimed) : null,
    jti_sha256: verified?.jtiHash ?? null,
    key_bound: verified === undefined ? null : verified.boundKeyDigest !== undefined,
    // Entries are the client's text until they parse; a token that did not verify buys a few of them, not 100.
    requested: (verified === undefined
      ? trail.requested.slice(0, MAX_UNVERIFIED_ENTRIES_AUDITED)
      : trail.requested
    ).map(printable),
    requested_count: trail.requested.length,
    rules: trail.rules,
    conditions: trail.conditions,
    latency_ms: Math.round((performance.now() - trail.started) * 1000) / 1000,
  };
}

/** Parses and compiles the requested entries; every invalid one is named. */
export function parseEntries(requested: readonly string[]): RequestedEntry[] {
  const entries: RequestedEntry[] = [];
  const problems: string[] = [];
  for (const raw of requested) {
    try {
      entries.push(parseRequestedEntry(raw));
    } catch (error) {
      if (!(error instanceof RequestedEntryError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) {
    throw new BrokerError('invalid_request', `invalid secret names: ${problems.join('; ')}`, {
      hint: 'names are segments of A-Z a-z 0-9 _ . - joined by "/"; NAME@3 asks for version 3, a|b for the first of a and b granted and stored, and a trailing "?" marks an entry optional',
    });
  }
  return entries;
}

/** The token's single use, kept until it could no longer be accepted anyway. */
function tokenUseOf(verified: VerifiedToken): TokenUse {
  const lastAcceptable = Math.max(verified.expiresAt, verified.issuedAt + verified.issuer.maxTokenAgeSeconds);
  return {
    issuer: verified.issuer.url,
    jtiHash: verified.jtiHash,
    expiresAtSeconds: lastAcceptable + CLOCK_LEEWAY_SECONDS + REPLAY_RETENTION_MARGIN_SECONDS,
  };
}

export function tokenReplayed(): BrokerError {
  return new BrokerError(
    'token_replayed',
    'this token was already used for an exchange; each token is single-use',
    {
      hint: 'request a fresh ID token for every exchange (and for every retry)',
    },
  );
}

function claimedIssuer(claims: Readonly<Record<string, unknown>> | undefined): string | null {
  const iss = claims?.iss;
  return typeof iss === 'string' ? printable(iss.slice(0, 256)) : null;
}
