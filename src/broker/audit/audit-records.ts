/** The records of the audit log: what each exchange and admin call leaves behind. Never a value. */
import type { WorkloadIdentity } from './workload.js';

export interface ReleasedVersion {
  readonly name: string;
  readonly version: number;
  /** For a run output (`run/NAME`) an exchange released: the request id of the put it came from. */
  readonly put_request_id?: string;
}

/**
 * A condition that refused a request: a rule's `when` (condition_failed, naming the rule), or a secret's expiry,
 * read budget or rotation (naming the secret). `detail` says what was seen; never a value.
 */
export interface AuditedCondition {
  readonly code: string;
  readonly condition: 'source_ips' | 'time' | 'expires' | 'max_reads' | 'rotate_after_reads';
  readonly rule?: string;
  readonly secret?: string;
  readonly detail: string;
}

/** An entry with alternatives (`a|b`): the one released, or null when none was (an optional entry). */
export interface UsedAlternative {
  readonly entry: string;
  readonly used: string | null;
}

/** What every record of a workload's request holds (an exchange, a list): names and identities, never a value. */
interface WorkloadRequestRecord extends WorkloadIdentity {
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
  /**
   * Whether the verified token was bound to the request's key (null when the token did not verify; absent in
   * records written before key binding).
   */
  readonly key_bound?: boolean | null;
  /** As sent, escaped; for a token that did not verify only the first few. */
  readonly requested: readonly string[];
  readonly requested_count: number;
  /** The rules that granted (their claims matched and their conditions held). */
  readonly rules: readonly string[];
  /** The conditions that refused the request (the first few); records from before conditions existed lack it. */
  readonly conditions?: readonly AuditedCondition[];
  readonly latency_ms: number;
}

/** One exchange, allowed or denied. */
export interface ExchangeAuditRecord extends WorkloadRequestRecord {
  readonly kind: 'exchange';
  readonly recipient_sha256: string | null;
  readonly released: readonly ReleasedVersion[];
  /** Entries with alternatives and the one used; records from before alternatives existed lack it. */
  readonly fallbacks?: readonly UsedAlternative[];
}

/** One discovery request (POST /v1/list): the names and versions it answered (the first MAX_LISTED_AUDITED). */
export interface ListAuditRecord extends WorkloadRequestRecord {
  readonly kind: 'list';
  readonly listed: readonly ReleasedVersion[];
  readonly listed_count: number;
}

/** One output a put stored (never its value): its entry name, where it is bound, how long it lives. */
export interface StoredOutputRecord {
  /** The entry name later jobs read it by: `run/NAME`. */
  readonly name: string;
  /** 1, or one more than the output of the same name it replaced. */
  readonly version: number;
  readonly replaced: boolean;
  readonly key_id: string;
  readonly ttl_seconds: number;
  readonly expires_at: string;
}

/**
 * One put of run outputs (POST /v1/outputs), allowed or refused. The putter is the record's identity; `run` the
 * binding the outputs are stored under (null when the token did not verify or named no run).
 */
export interface OutputAuditRecord extends WorkloadRequestRecord {
  readonly kind: 'output';
  readonly run: string | null;
  readonly outputs: readonly StoredOutputRecord[];
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

export type AuditRecord = ExchangeAuditRecord | ListAuditRecord | OutputAuditRecord | AdminAuditRecord;
