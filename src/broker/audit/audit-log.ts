import type { Logger } from 'pino';
import type { AuditEntry, AuditRecords, TokenUse } from '../store/interfaces.js';
import type { AuditChainKeys } from './audit-chain-keys.js';
import type { WorkloadIdentity } from '../exchange/workload.js';

export interface ReleasedVersion {
  readonly name: string;
  readonly version: number;
}

/** One exchange, allowed or denied. Holds names, versions and identities: never a value. */
export interface ExchangeAuditRecord extends WorkloadIdentity {
  readonly kind: 'exchange';
  readonly time: string;
  readonly request_id: string;
  readonly source_ip: string;
  readonly outcome: 'allowed' | 'denied' | 'error';
  readonly code: string | null;
  /**
   * False when the token did not verify: the identity fields are then null, and what the token claimed is under
   * `claimed`, every string escaped (printable). Records written before that change kept the claims in the
   * identity fields themselves; readers treat those as claimed too.
   */
  readonly token_verified: boolean;
  readonly claimed: WorkloadIdentity | null;
  readonly issuer: string | null;
  readonly issuer_url: string | null;
  readonly jti_sha256: string | null;
  readonly recipient_sha256: string | null;
  readonly requested: readonly string[];
  readonly released: readonly ReleasedVersion[];
  readonly rules: readonly string[];
  readonly latency_ms: number;
}

/** One admin API call, allowed or refused. */
export interface AdminAuditRecord {
  readonly kind: 'admin';
  readonly time: string;
  readonly request_id: string;
  readonly source_ip: string;
  readonly outcome: 'allowed' | 'denied' | 'error';
  readonly code: string | null;
  readonly admin_token_id: string | null;
  readonly admin_label: string | null;
  readonly role: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly detail: Readonly<Record<string, string | number | boolean>> | null;
}

export type AuditRecord = ExchangeAuditRecord | AdminAuditRecord;

/**
 * Appends records to the keyed chain (each linked with the current master key's chain key) and mirrors each as a
 * JSON log line. A failed append throws: callers fail closed.
 */
export class AuditLog {
  constructor(
    private readonly records: AuditRecords,
    private readonly logger: Logger,
    private readonly chainKeys: AuditChainKeys,
  ) {}

  /** With `tokenUse`, also records the token as used, atomically (throws TokenAlreadyUsedError on a replay). */
  async append(record: AuditRecord, tokenUse?: TokenUse): Promise<AuditEntry> {
    const text = JSON.stringify(record);
    const entry = await this.records.append(text, this.chainKeys.link, tokenUse);
    this.logger.info(
      { audit: record, seq: entry.seq, hash: entry.hash },
      `audit ${record.kind} ${record.outcome}`,
    );
    return entry;
  }
}
