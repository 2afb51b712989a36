import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { WorkBudgetExceededError } from '../../protocol/automaton.js';
import { RequestedEntryError } from '../../protocol/secret-names.js';
import { explainDecision, explainTokenWithKeys } from '../explain/explain.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { BrokerError, toBrokerError } from '../errors.js';
import type { BrokerMetrics } from '../metrics.js';
import {
  StoreUnavailableError,
  type AdminRole,
  type AdminTokens,
  type AuditFilter,
  type AuditRecords,
} from '../store/interfaces.js';
import { verifyAuditChain, type ChainHead, type ChainVerification } from '../audit/audit-chain.js';
import type { AuditChainKeys } from '../audit/audit-chain-keys.js';
import {
  KeyRotation,
  RotationConflictError,
  type BatchResult,
  type RotationStatus,
} from '../store/key-rotation.js';
import {
  SecretIntegrityError,
  SecretValueError,
  SecretVault,
  type VersionAuthor,
} from '../store/secret-vault.js';
import { EXPIRING_SOON_SECONDS } from '../metrics.js';
import { SYSTEM_CLOCK, type Clock } from '../exchange/clock.js';
import { MAX_VERSION } from '../../protocol/secret-names.js';
import type { ConditionChanges, SecretSummary } from '../store/interfaces.js';
import type { OutputKeyRotateResponse } from '../../protocol/admin-api.js';
import type { RunOutputKeys } from '../outputs/run-output-keys.js';

/** What a rotate-output-key call asks: a new current pair (`rotate`), and whether to drop the others. */
export interface OutputKeyRotateRequest {
  readonly rotate: boolean;
  readonly drop_old: boolean;
}
import { changesDetail, changesSomething, conditionChanges, conditionsAnswer } from './secret-conditions.js';
import {
  createAdminToken,
  ENVIRONMENT_TOKEN_ID,
  isAdminTokenId,
  type AdminCredentials,
  type AdminIdentity,
} from './admin-credentials.js';
import { ADMIN_OPERATIONS, isAllowed, type AdminAction } from './admin-operations.js';
import type { AdminAuthFailures } from './admin-auth-failures.js';
import {
  ADMIN_ROLES,
  type AuditPageResponse,
  type AuditVerifyResponse,
  type ExplainRequest,
  type ExplainResponse,
  type RotationBatchResponse,
  type RotationStatusResponse,
  type SecretConditionsChange,
  type SecretDeleteResponse,
  type SecretListing,
  type SecretRollbackResponse,
  type SecretUpdateResponse,
  type SecretVersionsResponse,
  type SecretWriteResponse,
  type TokenCreateResponse,
  type TokenListing,
  type TokenRevokeResponse,
  type WhoamiResponse,
} from '../../protocol/admin-api.js';

export type { AdminAction } from './admin-operations.js';

export interface AdminContext {
  readonly requestId: string;
  readonly sourceIp: string;
}

/**
 * Who calls an operation: the identity its admin token authenticated as, or undefined when the token did not
 * authenticate (the operation then refuses with `unauthorized`, audited under its own action).
 */
export type AdminCaller = AdminIdentity | undefined;

/**
 * What an operation works on: the values, or a function that reads them, called only once the caller has been
 * found allowed (so a route reads and parses its body only for a caller who may do the operation). What it
 * throws is answered as is and not audited, like any malformed request.
 */
export type OperationInput<T> = T | (() => T | Promise<T>);

export interface SecretWrite {
  readonly name: string;
  readonly value: string;
  readonly dryRun: boolean;
  /** Conditions set (or cleared) with the value, as the admin API takes them. */
  readonly conditions?: SecretConditionsChange;
}

/** Conditions changed without touching the value. */
export interface SecretUpdate {
  readonly name: string;
  readonly conditions: SecretConditionsChange;
}

export interface SecretRollback {
  readonly name: string;
  readonly to: number;
}

export interface AuditQuery {
  readonly filter: AuditFilter;
  readonly after: number;
  readonly pageSize: number;
}

type AuditDetail = Readonly<Record<string, string | number | boolean>>;

interface Outcome<T> {
  readonly result: T;
  readonly detail: AuditDetail | null;
}

function verificationAnswer(result: ChainVerification): AuditVerifyResponse {
  return {
    ok: result.ok,
    checked: result.checked,
    last_seq: result.lastSeq,
    keyed: result.keyed,
    hash_only: result.hashOnly,
    under_unconfigured_key: result.underUnconfiguredKey,
    keyed_from: result.keyedFrom,
    head: result.head,
    heads_matched: result.headsMatched,
    ...(result.problem === undefined ? {} : { problem: result.problem }),
  };
}

/** A name that is not a secret name is refused on every route that takes one: it cannot reach the store. */
function checkSecretName(name: string): void {
  try {
    SecretVault.validateName(name);
  } catch (error) {
    if (!(error instanceof SecretValueError)) throw error;
    throw new BrokerError('invalid_request', error.message, {
      hint: 'a secret name is segments of A-Z, a-z, 0-9, "_", "." and "-" joined by "/", e.g. prod/api/DB_PASSWORD; encode it as one path segment',
    });
  }
}

/** An operation's lazy input, read. */
async function read<T>(input: OperationInput<T>): Promise<T> {
  return typeof input === 'function' ? await (input as () => T | Promise<T>)() : input;
}

function authorOf(identity: AdminIdentity): VersionAuthor {
  return { tokenId: identity.tokenId, label: identity.label };
}

/** A secret as `secret list` shows it, with whether an exchange would now be refused for it. */
function secretListing(summary: SecretSummary, now: Date): SecretListing {
  const { conditions } = summary;
  return {
    name: summary.name,
    version: summary.version,
    versions: summary.versions,
    updated_at: summary.updatedAt,
    ...conditionsAnswer(conditions),
    releases: summary.releases,
    reads_in_window: summary.readsInWindow,
    expired: conditions.expiresAt !== undefined && Date.parse(conditions.expiresAt) <= now.getTime(),
    budget_exhausted: conditions.maxReads !== undefined && summary.readsInWindow >= conditions.maxReads.count,
    rotation_required:
      conditions.rotateAfterReads !== undefined && summary.releases >= conditions.rotateAfterReads,
  };
}

export interface AdminDependencies {
  readonly policy: PolicyHolder;
  readonly credentials: AdminCredentials;
  readonly tokens: AdminTokens;
  readonly vault: SecretVault;
  readonly audit: AuditLog;
  readonly auditRecords: AuditRecords;
  readonly chainKeys: AuditChainKeys;
  readonly authFailures: AdminAuthFailures;
  readonly rotation: KeyRotation;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** The time expiries are judged by (a past --expires is refused); the system clock when not given. */
  readonly clock?: Clock;
  /** The run-output key pairs (rotate-output-key); without them those calls answer `unavailable`. */
  readonly outputKeys?: RunOutputKeys;
}

/**
 * The admin operations. Each one checks its caller against ADMIN_OPERATIONS itself (401 or 403, audited), then
 * runs and audits the work: no caller, route or not, reaches an operation its role may not do.
 */
export class AdminService {
  private readonly policy: PolicyHolder;
  private readonly credentials: AdminCredentials;
  private readonly tokens: AdminTokens;
  private readonly vault: SecretVault;
  private readonly audit: AuditLog;
  private readonly auditRecords: AuditRecords;
  private readonly chainKeys: AuditChainKeys;
  private readonly authFailures: AdminAuthFailures;
  private readonly rotation: KeyRotation;
  private readonly metrics: BrokerMetrics;
  private readonly logger: Logger;
  private readonly clock: Clock;

  private readonly outputKeys: RunOutputKeys | undefined;

  constructor(deps: AdminDependencies) {
    ({
      policy: this.policy,
      credentials: this.credentials,
      tokens: this.tokens,
      vault: this.vault,
      audit: this.audit,
      auditRecords: this.auditRecords,
      chainKeys: this.chainKeys,
      authFailures: this.authFailures,
      rotation: this.rotation,
      metrics: this.metrics,
      logger: this.logger,
    } = deps);
    this.clock = deps.clock ?? SYSTEM_CLOCK;
    this.outputKeys = deps.outputKeys;
    // The service that owns the secrets' writes also answers the expiring-soon gauge, counted at each scrape.
    this.metrics.countSecretsExpiringSoonWith(() =>
      this.vault.countExpiring(this.clock.now(), EXPIRING_SOON_SECONDS),
    );
  }

  /**
   * The caller behind a presented admin token (the credential of "Authorization: Bearer <token>"), or undefined
   * when it is missing or not a valid, unrevoked token. Failed authentication beyond the source address's budget
   * is refused with `rate_limited` before anything is written, and only counted (see flushAuthFailures); a valid
   * token is served whatever its address's budget. A store that cannot be read answers `unavailable`: the token
   * may well be valid.
   */
  async authenticate(presented: string | undefined, context: AdminContext): Promise<AdminCaller> {
    const identity = presented === undefined ? undefined : await this.identityOf(presented, context);
    if (identity !== undefined) return identity;
    const wait = this.authFailures.fail(context.sourceIp);
    if (wait > 0) {
      this.metrics.adminAuthRefused.inc();
      throw new BrokerError(
        'rate_limited',
        `too many failed admin authentications from ${context.sourceIp}; retry in ${wait} s`,
        {
          hint: 'check the admin token (SECRETS_BROKER_ADMIN_TOKEN); a valid token is served meanwhile',
          extensions: { retry_after: wait },
        },
      );
    }
    return undefined;
  }

  private async identityOf(presented: string, context: AdminContext): Promise<AdminIdentity | undefined> {
    try {
      return await this.credentials.authenticate(presented);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      throw toBrokerError(error, 'admin', (event, detail) =>
        this.logger.error({ request_id: context.requestId, error: detail }, event),
      );
    }
  }

  /**
   * Writes the failed authentications refused since the last call as aggregate admin records (action
   * "auth.failures", detail {count, source_ip}): at most one per address and a bounded number per call. Counts
   * that cannot be written are kept for the next call.
   */
  async flushAuthFailures(): Promise<void> {
    const summaries = this.authFailures.drain();
    for (const [index, summary] of summaries.entries()) {
      try {
        await this.audit.append({
          kind: 'admin',
          time: new Date().toISOString(),
          request_id: randomUUID(),
          source_ip: summary.sourceIp,
          outcome: 'denied',
          code: 'rate_limited',
          admin_token_id: null,
          admin_label: null,
          role: null,
          action: 'auth.failures',
          target: null,
          detail: {
            count: summary.count,
            source_ip: summary.sourceIp,
            ...(summary.addresses === undefined ? {} : { addresses: summary.addresses }),
          },
        });
      } catch (error) {
        this.metrics.auditFailures.inc();
        this.logger.error(
          { error: (error as Error).message },
          'the aggregate record of refused admin authentications could not be written; kept for the next try',
        );
        this.authFailures.restore(summaries.slice(index));
        return;
      }
    }
  }

  async whoami(caller: AdminCaller, context: AdminContext): Promise<WhoamiResponse> {
    return this.perform('whoami', caller, context, undefined, {
      target: () => null,
      run: async (_, identity) => ({
        result: { token_id: identity.tokenId, label: identity.label, role: identity.role },
        detail: null,
      }),
    });
  }

  async listSecrets(
    caller: AdminCaller,
    prefix: OperationInput<string>,
    context: AdminContext,
  ): Promise<SecretListing[]> {
    return this.perform('secrets.list', caller, context, prefix, {
      target: (given) => (given === '' ? null : given),
      run: async (given) => {
        const now = this.clock.now();
        const secrets = (await this.vault.list(given, now)).map((summary) => secretListing(summary, now));
        return { result: secrets, detail: { count: secrets.length } };
      },
    });
  }

  async setSecret(
    caller: AdminCaller,
    write: OperationInput<SecretWrite>,
    context: AdminContext,
  ): Promise<SecretWriteResponse> {
    return this.perform('secrets.set', caller, context, write, {
      target: ({ name }) => name,
      run: async ({ name, value, dryRun, conditions: asked }, identity) => {
        const bytes = Buffer.byteLength(value, 'utf8');
        const sha256 = createHash('sha256').update(value, 'utf8').digest('hex');
        checkSecretName(name);
        const conditions = conditionChanges(asked, this.clock.now());
        let version: number;
        try {
          if (dryRun) {
            SecretVault.validateValue(value);
            version = await this.vault.nextVersion(name);
          } else {
            version = await this.vault.put(name, value, { createdBy: authorOf(identity), conditions });
          }
        } catch (error) {
          if (error instanceof SecretValueError) throw new BrokerError('invalid_request', error.message);
          throw error;
        }
        return {
          result: { name, version, bytes, sha256, dry_run: dryRun },
          detail: { version, bytes, dry_run: dryRun, ...changesDetail(conditions) },
        };
      },
    });
  }

  /** Changes a current secret's conditions; its value and version stay as they are. */
  async updateSecret(
    caller: AdminCaller,
    update: OperationInput<SecretUpdate>,
    context: AdminContext,
  ): Promise<SecretUpdateResponse> {
    return this.perform('secrets.update', caller, context, update, {
      target: ({ name }) => name,
      run: async ({ name, conditions: asked }) => {
        checkSecretName(name);
        const conditions: ConditionChanges = conditionChanges(asked, this.clock.now());
        if (!changesSomething(conditions)) {
          throw new BrokerError('invalid_request', 'the update changes nothing', {
            hint: 'give at least one of expires_at, max_reads, rotate_after_reads, description, owner (null clears it)',
          });
        }
        const [current] = (await this.vault.updateConditions(name, conditions))
          ? await this.vault.find([{ name, version: undefined }])
          : [];
        if (current === undefined) throw new BrokerError('not_found', `no secret is named "${name}"`);
        return {
          result: { name, version: current.version, conditions: conditionsAnswer(current.conditions) },
          detail: { version: current.version, ...changesDetail(conditions) },
        };
      },
    });
  }

  /** The versions kept of a secret, newest first: never a value. */
  async secretVersions(
    caller: AdminCaller,
    name: string,
    context: AdminContext,
  ): Promise<SecretVersionsResponse> {
    return this.perform('secrets.versions', caller, context, name, {
      target: (given) => given,
      run: async (given) => {
        checkSecretName(given);
        const history = await this.vault.history(given);
        if (history === undefined) throw new BrokerError('not_found', `no secret is named "${given}"`);
        const versions = history.versions.map((kept) => ({
          version: kept.version,
          created_at: kept.createdAt,
          bytes: kept.bytes ?? null,
          fingerprint: kept.fingerprint ?? null,
          created_by:
            kept.createdBy === undefined
              ? null
              : { token_id: kept.createdBy.tokenId, label: kept.createdBy.label },
          current: kept.current,
        }));
        return {
          result: {
            name: given,
            current_version: history.currentVersion ?? null,
            last_version: history.lastVersion,
            versions,
            more: history.more,
          },
          detail: { count: versions.length },
        };
      },
    });
  }

  /** Stores a kept version's value again as a new, current version (also for a deleted name). */
  async rollbackSecret(
    caller: AdminCaller,
    rollback: OperationInput<SecretRollback>,
    context: AdminContext,
  ): Promise<SecretRollbackResponse> {
    return this.perform('secrets.rollback', caller, context, rollback, {
      target: ({ name }) => name,
      run: async ({ name, to }, identity) => {
        checkSecretName(name);
        if (!Number.isSafeInteger(to) || to < 1 || to > MAX_VERSION)
          throw new BrokerError('invalid_request', `"to" must be a version number from 1 to ${MAX_VERSION}`);
        let version: number | undefined;
        try {
          version = await this.vault.rollback(name, to, authorOf(identity));
        } catch (error) {
          if (error instanceof SecretIntegrityError) throw new BrokerError('unavailable', error.message);
          throw error;
        }
        if (version === undefined) {
          throw new BrokerError(
            'not_found',
            `version ${to} of "${name}" is not kept: never stored, or purged`,
            {
              hint: `"secrets-broker secret versions ${name}" lists the versions kept`,
            },
          );
        }
        return { result: { name, from: to, version }, detail: { from: to, version } };
      },
    });
  }

  /** Deletes a secret, keeping its versions as history unless `purge`, which destroys them. */
  async deleteSecret(
    caller: AdminCaller,
    name: string,
    context: AdminContext,
    purge: OperationInput<boolean> = false,
  ): Promise<SecretDeleteResponse> {
    return this.perform('secrets.delete', caller, context, async () => ({ name, purge: await read(purge) }), {
      target: (given) => given.name,
      run: async (given) => {
        checkSecretName(given.name);
        if (!(await this.vault.delete(given.name, given.purge))) {
          throw new BrokerError(
            'not_found',
            given.purge ? `no version of "${given.name}" is kept` : `no secret is named "${given.name}"`,
          );
        }
        return { result: { name: given.name, deleted: true as const }, detail: { purge: given.purge } };
      },
    });
  }

  async createToken(
    caller: AdminCaller,
    request: OperationInput<{ readonly label: string; readonly role: string }>,
    context: AdminContext,
  ): Promise<TokenCreateResponse> {
    return this.perform('tokens.create', caller, context, request, {
      target: ({ label }) => label,
      run: async ({ label, role }) => {
        if (!(ADMIN_ROLES as readonly string[]).includes(role)) {
          throw new BrokerError(
            'invalid_request',
            `role must be one of ${ADMIN_ROLES.join(', ')}, not "${role}"`,
          );
        }
        if (label.trim() === '' || label.length > 100)
          throw new BrokerError('invalid_request', 'the label must be 1 to 100 characters');
        const { createdAt, ...created } = await createAdminToken(this.tokens, label, role as AdminRole);
        return { result: { ...created, created_at: createdAt }, detail: { token_id: created.id, role } };
      },
    });
  }

  async listTokens(caller: AdminCaller, context: AdminContext): Promise<TokenListing[]> {
    return this.perform('tokens.list', caller, context, undefined, {
      target: () => null,
      run: async () => {
        const tokens = (await this.tokens.list()).map(({ id, label, role, createdAt, revokedAt }) => ({
          id,
          label,
          role,
          created_at: createdAt,
          revoked_at: revokedAt ?? null,
        }));
        return { result: tokens, detail: { count: tokens.length } };
      },
    });
  }

  async revokeToken(caller: AdminCaller, id: string, context: AdminContext): Promise<TokenRevokeResponse> {
    return this.perform('tokens.revoke', caller, context, id, {
      target: (given) => given,
      run: async (given) => {
        if (given === ENVIRONMENT_TOKEN_ID) {
          throw new BrokerError(
            'invalid_request',
            "the server's environment owner token is revoked by unsetting its variable (SECRETS_BROKER_BOOTSTRAP_TOKEN, or the deprecated SECRETS_BROKER_ADMIN_TOKEN) and restarting the broker",
          );
        }
        if (!isAdminTokenId(given)) {
          throw new BrokerError('invalid_request', `${JSON.stringify(given)} is not an admin token id`, {
            hint: 'an id is 16 hexadecimal digits, as "secrets-broker token list" shows it',
          });
        }
        if (!(await this.tokens.revoke(given, new Date().toISOString()))) {
          throw new BrokerError('not_found', `no unrevoked admin token has id "${given}"`);
        }
        return { result: { id: given, revoked: true as const }, detail: null };
      },
    });
  }

  /**
   * One page of at most `pageSize` matching records after `after`. A full page comes with `next_after`, the
   * cursor for the next one (which may be empty); a page that is not full is the last.
   */
  async queryAudit(
    caller: AdminCaller,
    query: OperationInput<AuditQuery>,
    context: AdminContext,
  ): Promise<AuditPageResponse> {
    return this.perform('audit.read', caller, context, query, {
      target: () => null,
      run: async ({ filter, after, pageSize }) => {
        const entries = await this.auditRecords.query(filter, after, pageSize);
        const records = entries.map((entry) => ({
          seq: entry.seq,
          hash: entry.hash,
          ...(JSON.parse(entry.record) as { kind: string; time: string }),
        }));
        const last = entries[entries.length - 1];
        return {
          result: {
            records,
            next_after: entries.length === pageSize && last !== undefined ? last.seq : null,
          },
          detail: { count: records.length },
        };
      },
    });
  }

  /** Walks the chain with the configured chain keys, checking it still holds each published head. */
  async verifyAudit(
    caller: AdminCaller,
    heads: OperationInput<readonly ChainHead[]>,
    context: AdminContext,
  ): Promise<AuditVerifyResponse> {
    return this.perform('audit.verify', caller, context, heads, {
      target: () => null,
      run: async (published) => {
        const result = await verifyAuditChain(this.auditRecords, { keys: this.chainKeys, heads: published });
        return {
          result: verificationAnswer(result),
          detail: { ok: result.ok, checked: result.checked, heads: published.length },
        };
      },
    });
  }

  async beginRotation(caller: AdminCaller, context: AdminContext): Promise<RotationStatusResponse> {
    return this.perform('keys.rotate', caller, context, undefined, {
      target: () => 'begin',
      run: async () => {
        const status: RotationStatus = await this.rotation.begin();
        return {
          result: status,
          detail: {
            target_key_id: status.target_key_id,
            new_key_version: status.new_key_version,
            total: status.total,
            remaining: status.remaining,
          },
        };
      },
    });
  }

  async rotationBatch(
    caller: AdminCaller,
    batch: OperationInput<{ readonly targetKeyId: string; readonly size: number }>,
    context: AdminContext,
  ): Promise<RotationBatchResponse> {
    return this.perform('keys.rotate', caller, context, batch, {
      target: () => 'batch',
      run: async ({ targetKeyId, size }) => {
        try {
          const result: BatchResult = await this.rotation.batch(targetKeyId, size);
          return {
            result,
            detail: {
              target_key_id: targetKeyId,
              rewrapped: result.rewrapped,
              total: result.total,
              remaining: result.remaining,
            },
          };
        } catch (error) {
          if (error instanceof RotationConflictError) throw new BrokerError('invalid_request', error.message);
          if (error instanceof SecretIntegrityError) throw new BrokerError('unavailable', error.message);
          throw error;
        }
      },
    });
  }

  /**
   * Makes a new run-output key pair current (`rotate`), then with `dropOld` deletes every other pair and the
   * outputs sealed to them; or only drops (`rotate` false). Outputs sealed to a dropped key can never be read.
   */
  async rotateOutputKey(
    caller: AdminCaller,
    request: OperationInput<OutputKeyRotateRequest>,
    context: AdminContext,
  ): Promise<OutputKeyRotateResponse> {
    return this.perform('keys.rotate', caller, context, request, {
      target: ({ rotate }) => (rotate ? 'output-key' : 'output-key/drop-old'),
      run: async ({ rotate, drop_old: dropOld }) => {
        const keys = this.outputKeys;
        if (keys === undefined) throw new BrokerError('unavailable', 'this broker has no run-output keys');
        const current = rotate ? await keys.rotate() : keys.current;
        const dropped = dropOld ? await keys.dropOld() : { keyIds: [], outputs: 0 };
        const result = {
          key_id: current.keyId,
          public_key: current.publicKey,
          rotated: rotate,
          kept_key_ids: keys.keyIds.filter((id) => id !== current.keyId),
          dropped_key_ids: dropped.keyIds,
          dropped_outputs: dropped.outputs,
        };
        return {
          result,
          detail: {
            key_id: current.keyId,
            rotated: rotate,
            dropped_key_ids: dropped.keyIds.join(','),
            dropped_outputs: dropped.outputs,
          },
        };
      },
    });
  }

  /** The policy being served, explained for a token (its signature only with pinned keys) or for bare claims. */
  async explain(
    caller: AdminCaller,
    request: OperationInput<ExplainRequest>,
    context: AdminContext,
  ): Promise<ExplainResponse> {
    return this.perform('policy.explain', caller, context, request, {
      target: () => null,
      run: async (asked) => {
        if (asked.token !== undefined) {
          try {
            decodeJwt(asked.token);
          } catch {
            throw new BrokerError('invalid_request', '"token" is not a JWT');
          }
        }
        const policy = this.policy.current;
        // Rule conditions are judged for the address and time asked about (now by default, as the CLI does).
        const conditions = {
          sourceIp: asked.source_ip,
          at: asked.at === undefined ? undefined : new Date(asked.at),
        };
        try {
          return {
            // A token gets every check the broker makes of it before the policy; its signature only where the
            // policy pins the issuer's keys (verified offline: explain never fetches keys).
            result:
              asked.token !== undefined
                ? await explainTokenWithKeys(
                    policy,
                    asked.token,
                    asked.secrets ?? [],
                    undefined,
                    undefined,
                    conditions,
                  )
                : explainDecision(policy, asked.claims ?? {}, asked.secrets ?? [], undefined, conditions),
            detail: null,
          };
        } catch (error) {
          if (error instanceof RequestedEntryError) throw new BrokerError('invalid_request', error.message);
          if (error instanceof WorkBudgetExceededError) {
            throw new BrokerError('invalid_request', `${error.message}, so it was not explained`, {
              hint: 'ask about fewer secrets at once, or with simpler patterns',
            });
          }
          throw error;
        }
      },
    });
  }

  /**
   * Admits the caller to `action` by ADMIN_OPERATIONS (a refusal is audited), reads its input, then runs the
   * operation and audits it. If the record cannot be written, the caller gets `unavailable`.
   */
  private async perform<I, T>(
    action: AdminAction,
    caller: AdminCaller,
    context: AdminContext,
    input: OperationInput<I>,
    operation: {
      readonly target: (input: I) => string | null;
      readonly run: (input: I, identity: AdminIdentity) => Promise<Outcome<T>>;
    },
  ): Promise<T> {
    const identity = await this.admit(action, caller, context);
    const given = await read(input);
    let outcome: Outcome<T> | undefined;
    let failure: BrokerError | undefined;
    try {
      outcome = await operation.run(given, identity);
    } catch (error) {
      if (error instanceof BrokerError) failure = error;
      else if (error instanceof StoreUnavailableError) {
        failure = toBrokerError(error, 'admin', (event, detail) =>
          this.logger.error({ request_id: context.requestId, error: detail }, event),
        );
      } else throw error;
    }
    await this.record(
      context,
      identity,
      action,
      operation.target(given),
      failure === undefined ? 'allowed' : 'denied',
      failure?.code ?? null,
      outcome?.detail ?? null,
      failure === undefined && ADMIN_OPERATIONS[action].mutates,
    );
    if (failure !== undefined) throw failure;
    return (outcome as Outcome<T>).result;
  }

  /** The caller's identity when its role may do `action`; otherwise the refusal, audited. */
  private async admit(
    action: AdminAction,
    caller: AdminCaller,
    context: AdminContext,
  ): Promise<AdminIdentity> {
    if (caller === undefined) {
      await this.record(context, undefined, action, null, 'denied', 'unauthorized', null);
      throw new BrokerError(
        'unauthorized',
        'the admin API needs "Authorization: Bearer <admin token>" with a valid, unrevoked token',
        {
          hint: 'set SECRETS_BROKER_ADMIN_TOKEN to the owner token printed on the broker\'s first start, or to one made with "secrets-broker token create"',
        },
      );
    }
    if (!isAllowed(caller.role, action)) {
      await this.record(context, caller, action, null, 'denied', 'forbidden', null);
      throw new BrokerError(
        'forbidden',
        `role "${caller.role}" may not ${action}; allowed: ${ADMIN_OPERATIONS[action].roles.join(', ')}`,
      );
    }
    return caller;
  }

  private async record(
    context: AdminContext,
    identity: AdminIdentity | undefined,
    action: AdminAction,
    target: string | null,
    outcome: 'allowed' | 'denied',
    code: string | null,
    detail: AuditDetail | null,
    changed = false,
  ): Promise<void> {
    this.metrics.adminRequests.inc({ action, outcome });
    try {
      await this.audit.append({
        kind: 'admin',
        time: new Date().toISOString(),
        request_id: context.requestId,
        source_ip: context.sourceIp,
        outcome,
        code,
        admin_token_id: identity?.tokenId ?? null,
        admin_label: identity?.label ?? null,
        role: identity?.role ?? null,
        action,
        target,
        detail,
      });
    } catch (error) {
      this.metrics.auditFailures.inc();
      this.logger.error(
        { request_id: context.requestId, error: (error as Error).message },
        'admin audit record could not be written',
      );
      throw new BrokerError(
        'unavailable',
        changed
          ? 'the change was made, but its audit record could not be written; an operator must check the audit storage'
          : 'the audit record could not be written, so the request was refused',
      );
    }
  }
}
