/** The records of the audit log: what each exchange and admin call leaves behind. Never a value. */
import type { WorkloadIdentity } from './workload.js';

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
  /** As sent, escaped; for a token that did not verify only the first few. */
  readonly requested: readonly string[];
  readonly requested_count: number;
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
