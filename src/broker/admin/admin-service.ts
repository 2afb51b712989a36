import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { BrokerError } from '../errors.js';
import type { BrokerMetrics } from '../metrics.js';
import { StoreUnavailableError, type AdminRole, type SecretSummary } from '../store/interfaces.js';
import { SecretValueError, SecretVault } from '../store/secret-vault.js';
import type { AdminCredentials, AdminIdentity } from './admin-credentials.js';

export type AdminAction = 'whoami' | 'secrets.list' | 'secrets.set' | 'secrets.delete';

/** Which roles may do what. Values are write-only for every role: nothing returns a stored value. */
const PERMISSIONS: Readonly<Record<AdminAction, readonly AdminRole[]>> = {
  whoami: ['owner', 'admin', 'auditor'],
  'secrets.list': ['owner', 'admin', 'auditor'],
  'secrets.set': ['owner', 'admin'],
  'secrets.delete': ['owner', 'admin'],
};

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

export class AdminService {
  constructor(
    private readonly credentials: AdminCredentials,
    private readonly vault: SecretVault,
    private readonly audit: AuditLog,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
  ) {}

  /** Authenticates and checks the role; a refusal is audited too. */
  async authorize(
    authorization: string | undefined,
    action: AdminAction,
    context: AdminContext,
  ): Promise<AdminIdentity> {
    const presented = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '')?.[1];
    const identity = presented === undefined ? undefined : await this.credentials.authenticate(presented);
    if (identity === undefined) {
      await this.record(context, undefined, action, null, 'denied', 'unauthorized', null);
      throw new BrokerError(
        'unauthorized',
        'the admin API needs "Authorization: Bearer <admin token>" with a valid, unrevoked token',
        {
          hint: 'set SECRETS_BROKER_ADMIN_TOKEN to the owner token printed on the broker\'s first start, or to one made with "secrets-broker token create"',
        },
      );
    }
    if (!PERMISSIONS[action].includes(identity.role)) {
      await this.record(context, identity, action, null, 'denied', 'forbidden', null);
      throw new BrokerError(
        'forbidden',
        `role "${identity.role}" may not ${action}; allowed: ${PERMISSIONS[action].join(', ')}`,
      );
    }
    return identity;
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

  /** Runs an admin operation and audits it. If the record cannot be written, the caller gets `unavailable`. */
  private async run<T>(
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
    const wrote = failure === undefined && action !== 'whoami' && action !== 'secrets.list';
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
