import type { Logger } from 'pino';
import type { AdminService } from '../admin/admin-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { BrokerMetrics } from '../metrics.js';
import type { TokenVerifier } from '../oidc/token-verifier.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { AuditRecords, SecretHistory, Stores } from '../store/interfaces.js';
import type { MasterKey } from '../store/master-key.js';
import type { ReloadStatus } from './reload-status.js';

/**
 * What the dashboard reads. Nothing here returns a secret value or writes one: the admin operations are the
 * read-only ones, version facts are lengths and fingerprints, and the audit log is only appended to for sign-in
 * and sign-out.
 */
export interface DashboardDependencies {
  readonly admin: AdminService;
  readonly policy: PolicyHolder;
  /** The keys of the current master key derive the session and CSRF keys (every replica derives the same). */
  readonly masterKey: MasterKey;
  readonly audit: AuditLog;
  readonly auditHead: AuditRecords['head'];
  /** Records in sequence order after a sequence number: the audit chart finds where its window starts with it. */
  readonly auditPage: AuditRecords['page'];
  /** The current version's length and fingerprint for the Secrets view (metadata only). */
  readonly secretHistory: (name: string, limit: number) => Promise<SecretHistory | undefined>;
  readonly verifier: Pick<TokenVerifier, 'keyStatus'>;
  readonly stores: Pick<Stores, 'ping'>;
  readonly metrics: BrokerMetrics;
  readonly reloads: ReloadStatus;
  readonly version: string;
  readonly logger: Logger;
  /** Milliseconds since the epoch for session ends (tests give their own); the system clock otherwise. */
  readonly now?: () => number;
}
