import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  parseRequestedEntry,
  RequestedEntryError,
  type RequestedEntry,
} from '../../protocol/secret-names.js';
import { exchangeRequestSchema, type ExchangeResponse } from '../../protocol/wire.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ExchangeAuditRecord, ReleasedVersion } from '../audit/audit-records.js';
import { BrokerError, toBrokerError } from '../errors.js';
import type { BrokerMetrics } from '../metrics.js';
import { WorkBudget, WorkBudgetExceededError } from '../../protocol/automaton.js';
import { denialReason, Grants, matchingRules } from '../policy/evaluate.js';
import type { CompiledRule } from '../policy/compiled-policy.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import {
  CLOCK_LEEWAY_SECONDS,
  unverifiedClaims,
  type TokenVerifier,
  type VerifiedToken,
} from '../oidc/token-verifier.js';
import { sealPayload } from '../sealing.js';
import { TokenAlreadyUsedError, type TokenUse } from '../store/interfaces.js';
import type { SecretVault } from '../store/secret-vault.js';
import { planRelease } from './release-plan.js';
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
}

/** What the audit record will say; filled in as the exchange gets further. */
interface Trail {
  token: string | undefined;
  verified: VerifiedToken | undefined;
  recipientSha256: string | null;
  requested: readonly string[];
  rules: readonly string[];
  released: readonly ReleasedVersion[];
  /** Set once the token verified: its single use is recorded with the audit record. */
  tokenUse: TokenUse | undefined;
}

export class ExchangeService {
  constructor(private readonly deps: ExchangeDependencies) {}

  /** Runs one exchange and audits it. Throws BrokerError; releases nothing unless the audit record is written. */
  async exchange(
    authorization: string | undefined,
    body: string,
    context: ExchangeContext,
  ): Promise<ExchangeResponse> {
    const started = performance.now();
    const trail: Trail = {
      token: undefined,
      verified: undefined,
      recipientSha256: null,
      requested: [],
      rules: [],
      released: [],
      tokenUse: undefined,
    };
    let response: ExchangeResponse | undefined;
    let failure: BrokerError | undefined;
    try {
      response = await this.run(authorization, body, context, trail);
    } catch (error) {
      failure = toBrokerError(error, 'exchange', (event, detail) =>
        this.deps.logger.error({ request_id: context.requestId, error: detail }, event),
      );
    }

    const outcomeOf = (error: BrokerError | undefined) =>
      error === undefined
        ? 'allowed'
        : error.code === 'unavailable' || error.code === 'internal'
          ? 'error'
          : 'denied';
    // What a token that did not verify claimed, decoded once for the record (never trusted for a decision).
    const unverified = trail.verified === undefined && trail.token !== undefined;
    const claimed = unverified ? unverifiedClaims(trail.token as string) : undefined;
    const record = (error: BrokerError | undefined, released: boolean): ExchangeAuditRecord => ({
      kind: 'exchange',
      time: new Date().toISOString(),
      request_id: context.requestId,
      source_ip: context.sourceIp,
      outcome: outcomeOf(error),
      code: error?.code ?? null,
      token_verified: trail.verified !== undefined,
      issuer: trail.verified?.issuer.name ?? null,
      issuer_url: trail.verified?.issuer.url ?? claimedIssuer(claimed),
      // Only a verified token's identity goes in the identity fields (what audit queries filter on); what an
      // unverified one claimed is kept apart, escaped.
      ...(trail.verified === undefined ? NO_IDENTITY : workloadIdentity(trail.verified.claims)),
      claimed: unverified ? claimedIdentity(claimed) : null,
      jti_sha256: trail.verified?.jtiHash ?? null,
      recipient_sha256: trail.recipientSha256,
      // Entries are the client's text until they parse; a token that did not verify buys a few of them, not 100.
      requested: (trail.verified === undefined
        ? trail.requested.slice(0, MAX_UNVERIFIED_ENTRIES_AUDITED)
        : trail.requested
      ).map(printable),
      requested_count: trail.requested.length,
      released: released ? trail.released : [],
      rules: trail.rules,
      latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
    });
    try {
      try {
        // The token's single use commits with this record: a token seen before releases nothing.
        await this.deps.audit.append(record(failure, response !== undefined), trail.tokenUse);
        if (trail.tokenUse !== undefined) this.deps.spentTokens.remember(trail.tokenUse);
      } catch (error) {
        if (!(error instanceof TokenAlreadyUsedError)) throw error;
        if (trail.tokenUse !== undefined) this.deps.spentTokens.remember(trail.tokenUse);
        response = undefined;
        failure = tokenReplayed();
        await this.deps.audit.append(record(failure, false));
      }
    } catch (error) {
      this.deps.metrics.auditFailures.inc();
      this.deps.logger.error(
        { request_id: context.requestId, error: error instanceof Error ? error.message : String(error) },
        'audit record could not be written; releasing nothing',
      );
      response = undefined;
      failure = new BrokerError(
        'unavailable',
        'the audit record of this exchange could not be written, so nothing was released',
        {
          hint: "retry later; an operator must check the broker's audit storage",
        },
      );
    }

    const finalOutcome = outcomeOf(failure);
    this.deps.metrics.exchanges.inc({ outcome: finalOutcome, code: failure?.code ?? 'ok' });
    this.deps.metrics.exchangeSeconds.observe(
      { outcome: finalOutcome },
      (performance.now() - started) / 1000,
    );
    if (failure !== undefined) throw failure;
    return response as ExchangeResponse;
  }

  private async run(
    authorization: string | undefined,
    body: string,
    context: ExchangeContext,
    trail: Trail,
  ): Promise<ExchangeResponse> {
    const token = bearerToken(authorization);
    trail.token = token;
    const { recipient, requested } = parseBody(body);
    trail.requested = requested;
    trail.recipientSha256 = createHash('sha256').update(recipient).digest('hex');

    const policy = this.deps.policy.current;
    const verified = await this.deps.verifier.verify(token, policy);
    trail.verified = verified;
    const lastAcceptable = Math.max(
      verified.expiresAt,
      verified.issuedAt + verified.issuer.maxTokenAgeSeconds,
    );
    const tokenUse = {
      issuer: verified.issuer.url,
      jtiHash: verified.jtiHash,
      expiresAtSeconds: lastAcceptable + CLOCK_LEEWAY_SECONDS + REPLAY_RETENTION_MARGIN_SECONDS,
    };
    // A token this replica saw spent is refused before anything else is done for it (the store decides for
    // tokens spent on other replicas).
    if (this.deps.spentTokens.has(tokenUse)) throw tokenReplayed();

    // Per workload (verified issuer and repository or project), before the token is spent.
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
    // Compiled only now, for a fresh token of a workload within its limit; an invalid entry spends nothing.
    const entries = parseEntries(requested);
    trail.tokenUse = tokenUse;

    const budget = new WorkBudget(MATCH_STEPS_PER_EXCHANGE);
    // A request refused for its matching cost spends its token: one token cannot buy that cost twice.
    const grants = new Grants(matchingRules(policy, verified.issuer.name, verified.claims, budget), budget);
    trail.rules = grants.matchedRuleNames;
    const plan = await planRelease(entries, grants, () => this.deps.vault.currentNames(), budget);
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

    const released = secrets.map((secret) => ({
      name: secret.name,
      version: secret.version,
      sealed: sealPayload(secret, recipient).toString('base64'),
    }));
    trail.released = released.map(({ name, version }) => ({ name, version }));
    this.deps.logger.debug({ request_id: context.requestId, released: trail.released }, 'exchange sealed');
    return { request_id: context.requestId, secrets: released };
  }
}

function bearerToken(authorization: string | undefined): string {
  const match = authorization === undefined ? null : /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization);
  if (match === null) {
    throw new BrokerError(
      'invalid_token',
      'the request has no "Authorization: Bearer <OIDC ID token>" header',
      {
        hint: 'on GitHub, give the job "permissions: id-token: write"; on GitLab, declare id_tokens with this broker\'s audience',
      },
    );
  }
  return match[1] as string;
}

function parseBody(body: string): { recipient: Buffer; requested: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new BrokerError('invalid_request', 'the request body is not JSON', {
      hint: 'send {"recipient": "<base64 X25519 public key>", "secrets": ["NAME", ...]} with Content-Type: application/json',
    });
  }
  const parsed = exchangeRequestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys')
        return `unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
      const where = issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
      return `${where}: ${issue.message}`;
    });
    throw new BrokerError('invalid_request', `the request body is not valid: ${problems.join('; ')}`, {
      hint: 'send {"recipient": "<base64 X25519 public key>", "secrets": ["NAME", ...]}',
    });
  }
  return { recipient: Buffer.from(parsed.data.recipient, 'base64'), requested: parsed.data.secrets };
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
