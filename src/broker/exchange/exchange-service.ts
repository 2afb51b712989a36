import { createHash } from 'node:crypto';
import type { RequestedEntry } from '../../protocol/secret-names.js';
import type { ExchangeResponse } from '../../protocol/wire.js';
import type { ExchangeAuditRecord, ReleasedVersion, UsedAlternative } from '../audit/audit-records.js';
import { checkRunEntries, type RunOutputReader } from '../outputs/run-output-reader.js';
import type { SealingThread } from '../sealing-thread.js';
import type { CountedReleases, DecryptedSecret, SecretVault } from '../store/secret-vault.js';
import { RUN_OUTPUT_PREFIX } from '../../protocol/wire-shapes.js';
import { referencesToFind, resolveRelease, type ReleasePlan } from './release-plan.js';
import {
  expiredAt,
  expiredRefusal,
  notFoundProblem,
  notGrantedRefusal,
  refusalProblem as refused,
  releaseRefusal,
  tooWideProblem,
} from './refusals.js';
import {
  parseEntries,
  requestOutcome,
  startTrail,
  tokenReplayed,
  workloadRecordFields,
  type Admitted,
  type RefusedRequest,
  type RequestContext,
  type Result,
  type Trail,
  type WorkloadRequests,
} from './workload-request.js';

export { MATCH_STEPS_PER_EXCHANGE } from './workload-request.js';

export type ExchangeContext = RequestContext;

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
export type RefusedExchange = RefusedRequest;

export type ExchangeOutcome = ExchangeAuditRecord['outcome'];

/** The outcome an exchange's audit record and metrics give for the problem it answered (none when it released). */
export const exchangeOutcome = requestOutcome;

export interface ExchangeDependencies {
  readonly requests: WorkloadRequests;
  readonly vault: SecretVault;
  /** Seals the released payloads off the event loop. */
  readonly sealer: SealingThread;
  /** Reads the run outputs (`run/NAME` entries) of the exchange's own run. */
  readonly outputs: RunOutputReader;
}

/** What an exchange's record adds to the trail: where its secrets were sealed, what it released. */
interface ExchangeTrail {
  readonly trail: Trail;
  readonly recipientSha256: string | null;
  released: readonly ReleasedVersion[];
  /** Released run outputs (`run/NAME`) → the request id of the put each came from. */
  putRequestIds: ReadonlyMap<string, string>;
  fallbacks: readonly UsedAlternative[];
  /** What the exchange counted against its secrets' budgets and rotation limits, until it released them. */
  counted: CountedReleases | undefined;
}

export class ExchangeService {
  constructor(private readonly deps: ExchangeDependencies) {}

  /**
   * Runs one exchange (or takes the refusal of one) and audits it. Throws BrokerError; releases nothing unless
   * the audit record is written.
   */
  exchange(request: IncomingExchange | RefusedExchange): Promise<ExchangeResponse> {
    const refused = 'problem' in request;
    const exchange: ExchangeTrail = {
      trail: startTrail(request, request.token, refused ? [] : request.secrets),
      recipientSha256: refused ? null : createHash('sha256').update(request.recipient).digest('hex'),
      released: [],
      putRequestIds: new Map(),
      fallbacks: [],
      counted: undefined,
    };
    return this.deps.requests
      .handle(
        exchange.trail,
        refused ? request.problem : undefined,
        () => this.run(request as IncomingExchange, exchange),
        (result) => auditRecord(exchange, result),
      )
      .catch(async (error: unknown) => {
        // Nothing was released: a version that did not open, a sealing failure, an audit record not written.
        if (exchange.counted !== undefined) await this.takeBack(exchange.counted, exchange.trail);
        throw error;
      });
  }

  /**
   * Takes back the counts of an exchange that released nothing. Should that fail too (the store is failing),
   * they stay counted: the budget is spent early, which fails closed.
   */
  private async takeBack(counted: CountedReleases, trail: Trail): Promise<void> {
    try {
      await this.deps.vault.undoReleases(counted);
    } catch (error) {
      this.deps.requests.logger.error(
        {
          request_id: trail.context.requestId,
          error: error instanceof Error ? error.message : String(error),
        },
        'the reads counted for an exchange that released nothing could not be taken back; they stay counted',
      );
    }
  }

  private async run(request: IncomingExchange, exchange: ExchangeTrail): Promise<ExchangeResponse> {
    const { trail } = exchange;
    const admitted = await this.deps.requests.admit(request.token, trail, {
      kind: 'recipient',
      publicKey: request.recipient,
    });
    // Compiled only now, for a fresh token of a workload within its limit; an invalid entry spends nothing.
    const entries = parseEntries(request.secrets);
    checkRunEntries(entries);
    trail.tokenUse = admitted.tokenUse;
    const secrets = await this.releasable(entries, admitted, exchange);
    const sealed = await this.deps.sealer.seal(secrets, request.recipient);
    const released = secrets.map((secret, index) => ({
      name: secret.name,
      version: secret.version,
      sealed: sealed[index] as string,
    }));
    exchange.released = released.map(({ name, version }) => {
      const putRequestId = exchange.putRequestIds.get(name);
      return putRequestId === undefined ? { name, version } : { name, version, put_request_id: putRequestId };
    });
    this.deps.requests.logger.debug(
      { request_id: request.requestId, released: exchange.released },
      'exchange sealed',
    );
    return { request_id: request.requestId, secrets: released };
  }

  /**
   * The secrets the entries name, decrypted, when every entry is granted by a rule that holds, every required one
   * is stored, and every one to release passes its conditions (its reads and releases then counted). In order:
   * grants, the plan, one read of what is stored (nothing decrypted), expiry, the counts, then decryption.
   */
  private async releasable(
    entries: readonly RequestedEntry[],
    admitted: Admitted,
    exchange: ExchangeTrail,
  ): Promise<DecryptedSecret[]> {
    const { trail } = exchange;
    const { vault, requests } = this.deps;
    const { plan, heldBack, budget, now } = await requests.plan(entries, admitted, trail, (prefixes, limit) =>
      vault.currentNames(prefixes, limit),
    );
    const { secretPlan, runNames } = splitRunOutputs(plan);
    const found = await vault.find(referencesToFind(secretPlan));
    const resolved = resolveRelease(secretPlan, found);
    const { release, fallbacks } = resolved;
    exchange.fallbacks = fallbacks;
    let { notFound } = resolved;
    if (plan.notGranted.length > 0) {
      const { policy, verified } = admitted;
      throw refused(
        trail,
        notGrantedRefusal(plan.notGranted, notFound, {
          entries,
          rules: policy.rules,
          verified,
          heldBack,
          budget,
        }),
      );
    }
    if (plan.tooWide.length > 0) throw tooWideProblem(plan.tooWide);
    // Outputs are read only for a request every entry of which is granted, like secrets' values.
    const outputs =
      runNames.size === 0 ? undefined : await this.deps.outputs.read(admitted.verified, runNames, now);
    if (outputs !== undefined) {
      notFound = [...notFound, ...outputs.notFound];
      exchange.putRequestIds = outputs.putRequestIds;
    }
    if (notFound.length > 0) throw notFoundProblem(notFound);
    const expired = expiredAt(release, now);
    if (expired.length > 0) throw refused(trail, expiredRefusal(expired));
    // The token's single use is recorded with the counts: copies of one token sent at once count once.
    const counted = await vault.recordReleases(release, now, admitted.tokenUse);
    if (counted.refused === 'token_replayed') {
      requests.tokenUseDecided(trail);
      throw tokenReplayed();
    }
    if (counted.refused !== undefined) throw refused(trail, releaseRefusal(counted, release));
    if (counted.counted !== undefined) {
      requests.tokenUseDecided(trail);
      exchange.counted = counted.counted;
    }
    return [...vault.open(release), ...(outputs?.released ?? [])];
  }
}

/** The plan without its run outputs (`run/NAME` names, read from the outputs of the run), and those names. */
function splitRunOutputs(plan: ReleasePlan): { secretPlan: ReleasePlan; runNames: ReleasePlan['names'] } {
  const names = new Map(plan.names);
  const runNames = new Map<string, { readonly required: boolean; readonly entry: string }>();
  for (const [name, wanted] of plan.names) {
    if (!name.startsWith(RUN_OUTPUT_PREFIX)) continue;
    runNames.set(name, wanted);
    names.delete(name);
  }
  return { secretPlan: { ...plan, names }, runNames };
}

/** The record of an exchange: what was asked, by whom, what came of it and what was released. */
function auditRecord(exchange: ExchangeTrail, result: Result<ExchangeResponse>): ExchangeAuditRecord {
  const { trail } = exchange;
  return {
    kind: 'exchange',
    ...workloadRecordFields(trail, result.failure),
    recipient_sha256: exchange.recipientSha256,
    released: result.response === undefined ? [] : exchange.released,
    fallbacks: exchange.fallbacks,
  };
}
