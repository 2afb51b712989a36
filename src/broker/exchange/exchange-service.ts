import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  parseRequestedEntry,
  RequestedEntryError,
  type RequestedEntry,
} from '../../protocol/secret-names.js';
import type { ExchangeResponse } from '../../protocol/wire.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ExchangeAuditRecord, ReleasedVersion } from '../audit/audit-records.js';
import { BrokerError, toBrokerError } from '../errors.js';
import type { BrokerMetrics } from '../metrics.js';
import { WorkBudget, WorkBudgetExceededError } from '../../protocol/automaton.js';
import { denialReason, Grants, matchingRules } from '../policy/evaluate.js';
import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import {
  CLOCK_LEEWAY_SECONDS,
  unverifiedClaims,
  type TokenVerifier,
  type VerifiedToken,
} from '../oidc/token-verifier.js';
import type { SealingThread } from '../sealing-thread.js';
import { TokenAlreadyUsedError, type TokenUse } from '../store/interfaces.js';
import type { DecryptedSecret, SecretVault } from '../store/secret-vault.js';
import { MAX_NAMES_READ, planRelease } from './release-plan.js';
import type { TokenBuckets } from '../traffic/token-bucket.js';
import { claimedIdentity, NO_IDENTITY, workloadIdentity } from '../audit/workload.js';
import type { SpentTokens } from './spent-tokens.js';
import { printable } from '../../protocol/printable.js';

/** Used (iss, jti) pairs are kept this long past the last moment the token could still be accepted. */
const REPLAY_RETENTION_MARGIN_SECONDS = 3600;
const MAX_REASONS_IN_HINT = 5;
/** Requested entries kept in the audit record of an exchange whose token did not verify. */
const MAX_UNVERIFIED_ENTRIES_AUDITED = 5;
/**
 * Automaton steps one exchange may spend matching its token's claims and requested patterns, and explaining a
 * denial (a few milliseconds of CPU at most). Real requests use a small fraction; hostile claims or patterns are
 * refused instead of holding the event loop. Testing a name against a plain "prefix*" glob is not charged: it
 * is a string comparison, like testing it against a name.
 */
export const MATCH_STEPS_PER_EXCHANGE = 250_000;

export interface ExchangeContext {
  readonly requestId: string;
  readonly sourceIp: string;
}

/** An exchange request as the HTTP layer read it from its Authorization header and its body. */
export interface IncomingExchange extends ExchangeContext {
  /** The OIDC ID token, not yet verified. */
  readonly token: string;
  /** The X25519 public key the secrets are sealed to. */
  readonly recipient: Buffer;
  /** The requested entries as the client wrote them: parsed only once the token verified. */
  readonly secrets: readonly string[];
}

/** A request the HTTP layer refused for its token or its body: audited like every exchange, then answered. */
export interface RefusedExchange extends ExchangeContext {
  /** The bearer token when there was one (what it claims goes in the audit record, never trusted). */
  readonly token: string | undefined;
  readonly problem: BrokerError;
}

export type ExchangeOutcome = ExchangeAuditRecord['outcome'];

/** The outcome an exchange's audit record and metrics give for the problem it answered (none when it released). */
export function exchangeOutcome(failure: BrokerError | undefined): ExchangeOutcome {
  if (failure === undefined) return 'allowed';
  return failure.code === 'unavailable' || failure.code === 'internal' ? 'error' : 'denied';
}

export interface ExchangeDependencies {
  readonly policy: PolicyHolder;
  readonly verifier: TokenVerifier;
  readonly vault: SecretVault;
  readonly audit: AuditLog;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** Per workload (issuer and repository or project), in a map of their own: address floods cannot evict them. */
  readonly workloadLimits: TokenBuckets;
  readonly spentTokens: SpentTokens;
  /** Seals the released payloads off the event loop. */
  readonly sealer: SealingThread;
}

/** What an exchange came to: the response to release, or the problem to answer. */
type Result =
  | { readonly response: ExchangeResponse; readonly failure?: undefined }
  | { readonly response?: undefined; readonly failure: BrokerError };

/** What the audit record will say: what the request brought, then filled in as the exchange gets further. */
interface Trail {
  readonly context: ExchangeContext;
  readonly started: number;
  readonly token: string | undefined;
  readonly recipientSha256: string | null;
  readonly requested: readonly string[];
  verified: VerifiedToken | undefined;
  rules: readonly string[];
  released: readonly ReleasedVersion[];
  /** Set once the token verified and its workload is within its limit: its single use commits with the record. */
  tokenUse: TokenUse | undefined;
}

export class ExchangeService {
  constructor(private readonly deps: ExchangeDependencies) {}

  /**
   * Runs one exchange (or takes the refusal of one) and audits it. Throws BrokerError; releases nothing unless
   * the audit record is written.
   */
  async exchange(request: IncomingExchange | RefusedExchange): Promise<ExchangeResponse> {
    const trail = startTrail(request);
    const attempted =
      'problem' in request ? { failure: request.problem } : await this.attempt(request, trail);
    const answer = await this.audited(trail, attempted);
    if (answer.failure !== undefined) throw answer.failure;
    return answer.response;
  }

  /** The exchange up to its audit record; whatever stops it becomes the problem to answer. */
  private async attempt(request: IncomingExchange, trail: Trail): Promise<Result> {
    try {
      return { response: await this.run(request, trail) };
    } catch (error) {
      const failure = toBrokerError(error, 'exchange', (event, detail) =>
        this.deps.logger.error({ request_id: request.requestId, error: detail }, event),
      );
      return { failure };
    }
  }

  private async run(request: IncomingExchange, trail: Trail): Promise<ExchangeResponse> {
    const policy = this.deps.policy.current;
    const verified = await this.deps.verifier.verify(request.token, policy);
    trail.verified = verified;
    const tokenUse = this.admit(verified, policy);
    // Compiled only now, for a fresh token of a workload within its limit; an invalid entry spends nothing.
    const entries = parseEntries(request.secrets);
    trail.tokenUse = tokenUse;
    const secrets = await this.grantedSecrets(entries, policy, verified, trail);
    const sealed = await this.deps.sealer.seal(secrets, request.recipient);
    const released = secrets.map((secret, index) => ({
      name: secret.name,
      version: secret.version,
      sealed: sealed[index] as string,
    }));
    trail.released = released.map(({ name, version }) => ({ name, version }));
    this.deps.logger.debug({ request_id: request.requestId, released: trail.released }, 'exchange sealed');
    return { request_id: request.requestId, secrets: released };
  }

  /**
   * The verified token's use, once it is known fresh on this replica and its workload within its limit: refused
   * before the token is spent otherwise.
   */
  private admit(verified: VerifiedToken, policy: CompiledPolicy): TokenUse {
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
        `too many exchanges for ${printable(subject)}; retry in ${wait} s`,
        {
          hint: 'the token was not spent, but request a fresh one for the retry anyway; an admin can raise limits.per_workload in the policy',
          extensions: { retry_after: wait },
        },
      );
    }
    return tokenUse;
  }

  /** The stored secrets the entries name, when every entry is granted and every required one is stored. */
  private async grantedSecrets(
    entries: readonly RequestedEntry[],
    policy: CompiledPolicy,
    verified: VerifiedToken,
    trail: Trail,
  ): Promise<DecryptedSecret[]> {
    const budget = new WorkBudget(MATCH_STEPS_PER_EXCHANGE);
    // A request refused for its matching cost spends its token: one token cannot buy that cost twice.
    const grants = new Grants(matchingRules(policy, verified.issuer.name, verified.claims, budget), budget);
    trail.rules = grants.matchedRuleNames;
    const plan = await planRelease(
      entries,
      grants,
      (prefixes, limit) => this.deps.vault.currentNames(prefixes, limit),
      budget,
    );
    const secrets = await this.deps.vault.readCurrent([...plan.names.keys()]);
    const found = new Set(secrets.map((secret) => secret.name));
    const notFound = [
      ...[...plan.names]
        .filter(([name, wanted]) => wanted.required && !found.has(name))
        .map(([, wanted]) => wanted.entry),
      ...plan.emptyPatterns,
    ];
    if (plan.notGranted.length > 0) {
      throw denied(plan.notGranted, notFound, entries, policy.rules, verified, budget);
    }
    if (plan.tooWide.length > 0) {
      throw new BrokerError(
        'invalid_request',
        `${plan.tooWide.join(', ')} would have to look through more than ${MAX_NAMES_READ} stored names. Nothing was released.`,
        {
          secrets: [...plan.tooWide],
          hint: 'request narrower patterns (a longer literal prefix, such as prod/api/* rather than prod/*), or name the secrets',
        },
      );
    }
    if (notFound.length > 0) {
      throw new BrokerError(
        'secret_not_found',
        `granted but not stored: ${notFound.join(', ')}. Nothing was released.`,
        {
          secrets: notFound,
          hint: 'an admin stores it with "secrets-broker secret set NAME", or mark the entry optional with a trailing "?"',
        },
      );
    }
    return secrets;
  }

  /** Writes the exchange's audit record and answers what it says; when it cannot be written, nothing is released. */
  private async audited(trail: Trail, attempted: Result): Promise<Result> {
    try {
      return await this.recordSpendingToken(trail, attempted);
    } catch (error) {
      return this.auditUnwritten(trail, error);
    }
  }

  /**
   * The token's single use commits with the record: a token the store has seen releases nothing, and the replay
   * is recorded instead.
   */
  private async recordSpendingToken(trail: Trail, attempted: Result): Promise<Result> {
    const fresh = await this.appendUnlessReplayed(auditRecord(trail, attempted), trail.tokenUse);
    if (trail.tokenUse !== undefined) this.deps.spentTokens.remember(trail.tokenUse);
    if (fresh) return attempted;
    const replayed = { failure: tokenReplayed() };
    await this.deps.audit.append(auditRecord(trail, replayed));
    return replayed;
  }

  /** Appends the record with the token's use; false, appending nothing, when the token was used before. */
  private async appendUnlessReplayed(
    record: ExchangeAuditRecord,
    tokenUse: TokenUse | undefined,
  ): Promise<boolean> {
    try {
      await this.deps.audit.append(record, tokenUse);
      return true;
    } catch (error) {
      if (error instanceof TokenAlreadyUsedError) return false;
      throw error;
    }
  }

  private auditUnwritten(trail: Trail, error: unknown): Result {
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
        'the audit record of this exchange could not be written, so nothing was released',
        { hint: "retry later; an operator must check the broker's audit storage" },
      ),
    };
  }
}

function startTrail(request: IncomingExchange | RefusedExchange): Trail {
  const refused = 'problem' in request;
  return {
    context: { requestId: request.requestId, sourceIp: request.sourceIp },
    started: performance.now(),
    token: request.token,
    recipientSha256: refused ? null : createHash('sha256').update(request.recipient).digest('hex'),
    requested: refused ? [] : request.secrets,
    verified: undefined,
    rules: [],
    released: [],
    tokenUse: undefined,
  };
}

/** The record of an exchange: what was asked, by whom, what came of it and what was released. */
function auditRecord(trail: Trail, result: Result): ExchangeAuditRecord {
  const { verified } = trail;
  // What a token that did not verify claimed, decoded for the record (never trusted for a decision).
  const unverified = verified === undefined && trail.token !== undefined;
  const claimed = unverified ? unverifiedClaims(trail.token as string) : undefined;
  return {
    kind: 'exchange',
    time: new Date().toISOString(),
    request_id: trail.context.requestId,
    source_ip: trail.context.sourceIp,
    outcome: exchangeOutcome(result.failure),
    code: result.failure?.code ?? null,
    token_verified: verified !== undefined,
    issuer: verified?.issuer.name ?? null,
    issuer_url: verified?.issuer.url ?? claimedIssuer(claimed),
    // Only a verified token's identity goes in the identity fields (what audit queries filter on); what an
    // unverified one claimed is kept apart, escaped.
    ...(verified === undefined ? NO_IDENTITY : workloadIdentity(verified.claims)),
    claimed: unverified ? claimedIdentity(claimed) : null,
    jti_sha256: verified?.jtiHash ?? null,
    recipient_sha256: trail.recipientSha256,
    // Entries are the client's text until they parse; a token that did not verify buys a few of them, not 100.
    requested: (verified === undefined
      ? trail.requested.slice(0, MAX_UNVERIFIED_ENTRIES_AUDITED)
      : trail.requested
    ).map(printable),
    requested_count: trail.requested.length,
    released: result.response === undefined ? [] : trail.released,
    rules: trail.rules,
    latency_ms: Math.round((performance.now() - trail.started) * 1000) / 1000,
  };
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

/** Parses and compiles the requested entries; every invalid one is named. */
function parseEntries(requested: readonly string[]): RequestedEntry[] {
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
      hint: 'names are segments of A-Z a-z 0-9 _ . - joined by "/"; a trailing "?" marks an entry optional',
    });
  }
  return entries;
}

function denied(
  notGranted: readonly string[],
  notFound: readonly string[],
  entries: readonly RequestedEntry[],
  rules: readonly CompiledRule[],
  verified: VerifiedToken,
  budget: WorkBudget,
): BrokerError {
  // The hints spend what is left of the exchange's budget: the denial is decided, only its explanation may be
  // cut short.
  const reasons = notGranted.slice(0, MAX_REASONS_IN_HINT).map((raw) => {
    const entry = entries.find((candidate) => candidate.raw === raw) as RequestedEntry;
    try {
      return denialReason(rules, entry.glob, verified.issuer.name, verified.claims, budget);
    } catch (error) {
      if (!(error instanceof WorkBudgetExceededError)) throw error;
      return `no rule that matches this workload grants "${raw}" (the closest rule was not worked out: too costly)`;
    }
  });
  if (notGranted.length > MAX_REASONS_IN_HINT)
    reasons.push(`and ${notGranted.length - MAX_REASONS_IN_HINT} more`);
  const alsoMissing = notFound.length > 0 ? ` Also granted but not stored: ${notFound.join(', ')}.` : '';
  return new BrokerError(
    'policy_denied',
    `not granted to this workload: ${notGranted.join(', ')}. Nothing was released.${alsoMissing}`,
    {
      secrets: [...notGranted, ...notFound],
      hint: `${reasons.join('; ')}. "secrets-broker policy explain" shows every rule against these claims.`,
      extensions: { not_granted: notGranted, not_found: notFound },
    },
  );
}

function tokenReplayed(): BrokerError {
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
