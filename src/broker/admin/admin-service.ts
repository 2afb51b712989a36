import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { WorkBudgetExceededError } from '../../protocol/automaton.js';
import { RequestedEntryError } from '../../protocol/secret-names.js';
import { explainDecision, explainToken } from '../explain/explain.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { BrokerError } from '../errors.js';
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
import { SecretIntegrityError, SecretValueError, SecretVault } from '../store/secret-vault.js';
import {
  createAdminToken,
  ENVIRONMENT_TOKEN_ID,
  isAdminTokenId,
  type AdminCredentials,
  type AdminIdentity,
} from './admin-credentials.js';
import { ADMIN_ROLES, isAllowed, PERMISSIONS, type AdminAction } from './admin-permissions.js';
import type { AdminAuthFailures } from './admin-auth-failures.js';

export type { AdminAction } from './admin-permissions.js';

export interface AdminContext {
  readonly requestId: string;
  readonly sourceIp: string;
}

export interface SecretWriteResult {
  readonly name: string;
  readonly version: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly dry_run: boolean;
}

type AuditDetail = Readonly<Record<string, string | number | boolean>>;

/** What the API answers about a secret: names and versions, never a value. */
export interface SecretListing {
  readonly name: string;
  readonly version: number;
  readonly versions: number;
  readonly updated_at: string;
}

/** An audit chain verification as the API answers it (snake_case, like every admin answer). */
export interface VerificationAnswer {
  readonly ok: boolean;
  readonly checked: number;
  readonly last_seq: number;
  readonly keyed: number;
  readonly hash_only: number;
  readonly under_unconfigured_key: ChainVerification['underUnconfiguredKey'];
  readonly keyed_from: ChainVerification['keyedFrom'];
  readonly head: ChainVerification['head'];
  readonly heads_matched: ChainVerification['headsMatched'];
  readonly problem?: ChainVerification['problem'];
}

function verificationAnswer(result: ChainVerification): VerificationAnswer {
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
}

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
  }

  /**
   * Authenticates and checks the role; a refusal is audited too. Failed authentication beyond the source
   * address's budget is refused with `rate_limited` before anything is written, and only counted (see
   * flushAuthFailures); a valid token is served whatever its address's budget.
   */
  async authorize(
    authorization: string | undefined,
    action: AdminAction,
    context: AdminContext,
  ): Promise<AdminIdentity> {
    const presented = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '')?.[1];
    const identity = presented === undefined ? undefined : await this.authenticate(presented, context);
    if (identity === undefined) {
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
      await this.record(context, undefined, action, null, 'denied', 'unauthorized', null);
      throw new BrokerError(
        'unauthorized',
        'the admin API needs "Authorization: Bearer <admin token>" with a valid, unrevoked token',
        {
          hint: 'set SECRETS_BROKER_ADMIN_TOKEN to the owner token printed on the broker\'s first start, or to one made with "secrets-broker token create"',
        },
      );
    }
    if (!isAllowed(identity.role, action)) {
      await this.record(context, identity, action, null, 'denied', 'forbidden', null);
      throw new BrokerError(
        'forbidden',
        `role "${identity.role}" may not ${action}; allowed: ${PERMISSIONS[action].join(', ')}`,
      );
    }
    return identity;
  }

  /** A store that cannot be read answers `unavailable`: the token may well be valid. */
  private async authenticate(presented: string, context: AdminContext): Promise<AdminIdentity | undefined> {
    try {
      return await this.credentials.authenticate(presented);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.logger.error({ request_id: context.requestId, error: error.message }, 'store unavailable');
      throw new BrokerError(
        'unavailable',
        'the admin token store is unavailable, so the token cannot be checked',
        {
          hint: "retry later; an operator must check the broker's database",
        },
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

  async whoami(identity: AdminIdentity, context: AdminContext) {
    return this.run(context, identity, 'whoami', null, async () => ({
      result: { token_id: identity.tokenId, label: identity.label, role: identity.role },
      detail: null,
    }));
  }

  async listSecrets(
    identity: AdminIdentity,
    prefix: string,
    context: AdminContext,
  ): Promise<SecretListing[]> {
    return this.run(context, identity, 'secrets.list', prefix === '' ? null : prefix, async () => {
      const secrets = (await this.vault.list(prefix)).map(({ name, version, versions, updatedAt }) => ({
        name,
        version,
        versions,
        updated_at: updatedAt,
      }));
      return { result: secrets, detail: { count: secrets.length } };
    });
  }

  async setSecret(
    identity: AdminIdentity,
    name: string,
    value: string,
    dryRun: boolean,
    context: AdminContext,
  ): Promise<SecretWriteResult> {
    return this.run(context, identity, 'secrets.set', name, async () => {
      const bytes = Buffer.byteLength(value, 'utf8');
      const sha256 = createHash('sha256').update(value, 'utf8').digest('hex');
      checkSecretName(name);
      let version: number;
      try {
        if (dryRun) {
          SecretVault.validateValue(value);
          version = await this.vault.nextVersion(name);
        } else {
          version = await this.vault.put(name, value);
        }
      } catch (error) {
        if (error instanceof SecretValueError) throw new BrokerError('invalid_request', error.message);
        throw error;
      }
      return {
        result: { name, version, bytes, sha256, dry_run: dryRun },
        detail: { version, bytes, dry_run: dryRun },
      };
    });
  }

  async deleteSecret(
    identity: AdminIdentity,
    name: string,
    context: AdminContext,
  ): Promise<{ name: string; deleted: true }> {
    return this.run(context, identity, 'secrets.delete', name, async () => {
      checkSecretName(name);
      if (!(await this.vault.delete(name)))
        throw new BrokerError('not_found', `no secret is named "${name}"`);
      return { result: { name, deleted: true as const }, detail: null };
    });
  }

  async createToken(identity: AdminIdentity, label: string, role: string, context: AdminContext) {
    return this.run(context, identity, 'tokens.create', label, async () => {
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
    });
  }

  async listTokens(identity: AdminIdentity, context: AdminContext) {
    return this.run(context, identity, 'tokens.list', null, async () => {
      const tokens = (await this.tokens.list()).map(({ id, label, role, createdAt, revokedAt }) => ({
        id,
        label,
        role,
        created_at: createdAt,
        revoked_at: revokedAt ?? null,
      }));
      return { result: tokens, detail: { count: tokens.length } };
    });
  }

  async revokeToken(identity: AdminIdentity, id: string, context: AdminContext) {
    return this.run(context, identity, 'tokens.revoke', id, async () => {
      if (id === ENVIRONMENT_TOKEN_ID) {
        throw new BrokerError(
          'invalid_request',
          "the server's environment owner token is revoked by unsetting its variable (SECRETS_BROKER_BOOTSTRAP_TOKEN, or the deprecated SECRETS_BROKER_ADMIN_TOKEN) and restarting the broker",
        );
      }
      if (!isAdminTokenId(id)) {
        throw new BrokerError('invalid_request', `${JSON.stringify(id)} is not an admin token id`, {
          hint: 'an id is 16 hexadecimal digits, as "secrets-broker token list" shows it',
        });
      }
      if (!(await this.tokens.revoke(id, new Date().toISOString()))) {
        throw new BrokerError('not_found', `no unrevoked admin token has id "${id}"`);
      }
      return { result: { id, revoked: true as const }, detail: null };
    });
  }

  /**
   * One page of at most `pageSize` matching records after `after`. A full page comes with `next_after`, the
   * cursor for the next one (which may be empty); a page that is not full is the last.
   */
  async queryAudit(
    identity: AdminIdentity,
    filter: AuditFilter,
    after: number,
    pageSize: number,
    context: AdminContext,
  ) {
    return this.run(context, identity, 'audit.read', null, async () => {
      const entries = await this.auditRecords.query(filter, after, pageSize);
      const records = entries.map((entry) => ({
        seq: entry.seq,
        hash: entry.hash,
        ...(JSON.parse(entry.record) as object),
      }));
      const last = entries[entries.length - 1];
      return {
        result: { records, next_after: entries.length === pageSize && last !== undefined ? last.seq : null },
        detail: { count: records.length },
      };
    });
  }

  /** Walks the chain with the configured chain keys, checking it still holds each published head. */
  async verifyAudit(
    identity: AdminIdentity,
    heads: readonly ChainHead[],
    context: AdminContext,
  ): Promise<VerificationAnswer> {
    return this.run(context, identity, 'audit.verify', null, async () => {
      const result = await verifyAuditChain(this.auditRecords, { keys: this.chainKeys, heads });
      return {
        result: verificationAnswer(result),
        detail: { ok: result.ok, checked: result.checked, heads: heads.length },
      };
    });
  }

  async beginRotation(identity: AdminIdentity, context: AdminContext): Promise<RotationStatus> {
    return this.run(context, identity, 'keys.rotate', 'begin', async () => {
      const status = await this.rotation.begin();
      return {
        result: status,
        detail: {
          target_key_id: status.target_key_id,
          new_key_version: status.new_key_version,
          total: status.total,
          remaining: status.remaining,
        },
      };
    });
  }

  async rotationBatch(
    identity: AdminIdentity,
    targetKeyId: string,
    size: number,
    context: AdminContext,
  ): Promise<BatchResult> {
    return this.run(context, identity, 'keys.rotate', 'batch', async () => {
      try {
        const result = await this.rotation.batch(targetKeyId, size);
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
    });
  }

  /** The policy being served, explained for a token (every check but its signature) or for bare claims. */
  async explain(
    identity: AdminIdentity,
    request: { claims?: Record<string, unknown>; token?: string; secrets?: string[] },
    context: AdminContext,
  ) {
    return this.run(context, identity, 'policy.explain', null, async () => {
      if (request.token !== undefined) {
        try {
          decodeJwt(request.token);
        } catch {
          throw new BrokerError('invalid_request', '"token" is not a JWT');
        }
      }
      const policy = this.policy.current;
      try {
        return {
          // A token gets every check the broker makes of it (all but the signature) before the policy.
          result:
            request.token !== undefined
              ? explainToken(policy, request.token, request.secrets ?? [])
              : explainDecision(policy, request.claims ?? {}, request.secrets ?? []),
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
    });
  }

  /** Runs an admin operation and audits it. If the record cannot be written, the caller gets `unavailable`. */
  async run<T>(
    context: AdminContext,
    identity: AdminIdentity,
    action: AdminAction,
    target: string | null,
    operation: () => Promise<{ result: T; detail: AuditDetail | null }>,
  ): Promise<T> {
    let outcome: { result: T; detail: AuditDetail | null } | undefined;
    let failure: BrokerError | undefined;
    try {
      outcome = await operation();
    } catch (error) {
      if (error instanceof BrokerError) failure = error;
      else if (error instanceof StoreUnavailableError) {
        this.logger.error({ request_id: context.requestId, error: error.message }, 'store unavailable');
        failure = new BrokerError('unavailable', 'the secret store is unavailable; nothing was changed');
      } else throw error;
    }
    const wrote = failure === undefined && !(PERMISSIONS[action] as readonly AdminRole[]).includes('auditor');
    await this.record(
      context,
      identity,
      action,
      target,
      failure === undefined ? 'allowed' : 'denied',
      failure?.code ?? null,
      outcome?.detail ?? null,
      wrote,
    );
    if (failure !== undefined) throw failure;
    return (outcome as { result: T }).result;
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
