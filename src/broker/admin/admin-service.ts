import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { WorkBudgetExceededError } from '../../protocol/automaton.js';
import { RequestedEntryError } from '../../protocol/secret-names.js';
import { explainDecision } from '../policy/explain.js';
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
  type SecretSummary,
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

export const MAX_AUDIT_PAGE = 1000;

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

  async whoami(identity: AdminIdentity, context: AdminContext): Promise<AdminIdentity> {
    return this.run(context, identity, 'whoami', null, async () => ({ result: identity, detail: null }));
  }

  async listSecrets(
    identity: AdminIdentity,
    prefix: string,
    context: AdminContext,
  ): Promise<SecretSummary[]> {
    return this.run(context, identity, 'secrets.list', prefix === '' ? null : prefix, async () => {
      const secrets = await this.vault.list(prefix);
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
      let version: number;
      try {
        if (dryRun) {
          SecretVault.validateName(name);
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
      const created = await createAdminToken(this.tokens, label, role as AdminRole);
      return { result: created, detail: { token_id: created.id, role } };
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
          'the SECRETS_BROKER_ADMIN_TOKEN token is revoked by unsetting the variable and restarting the broker',
        );
      }
      if (!(await this.tokens.revoke(id, new Date().toISOString()))) {
        throw new BrokerError('not_found', `no unrevoked admin token has id "${id}"`);
      }
      return { result: { id, revoked: true as const }, detail: null };
    });
  }

  async queryAudit(
    identity: AdminIdentity,
    filter: AuditFilter,
    after: number,
    limit: number,
    context: AdminContext,
  ) {
    return this.run(context, identity, 'audit.read', null, async () => {
      const entries = await this.auditRecords.query(
        filter,
        after,
        Math.min(Math.max(limit, 1), MAX_AUDIT_PAGE),
      );
      const records = entries.map((entry) => ({
        seq: entry.seq,
        hash: entry.hash,
        ...(JSON.parse(entry.record) as object),
      }));
      const last = entries[entries.length - 1];
      return {
        result: { records, next_after: entries.length === limit && last !== undefined ? last.seq : null },
        detail: { count: records.length },
      };
    });
  }

  /** Walks the chain with the configured chain keys, checking it still holds each published head. */
  async verifyAudit(
    identity: AdminIdentity,
    heads: readonly ChainHead[],
    context: AdminContext,
  ): Promise<ChainVerification> {
    return this.run(context, identity, 'audit.verify', null, async () => {
      const result = await verifyAuditChain(this.auditRecords, { keys: this.chainKeys, heads });
      return {
        result,
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

  /** The policy being served, explained for a token's claims (the token is decoded, not verified). */
  async explain(
    identity: AdminIdentity,
    request: { claims?: Record<string, unknown>; token?: string; secrets?: string[] },
    context: AdminContext,
  ) {
    return this.run(context, identity, 'policy.explain', null, async () => {
      let claims = request.claims;
      if (request.token !== undefined) {
        try {
          claims = decodeJwt(request.token);
        } catch {
          throw new BrokerError('invalid_request', '"token" is not a JWT');
        }
      }
      try {
        return {
          result: explainDecision(this.policy.current, claims ?? {}, request.secrets ?? []),
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
