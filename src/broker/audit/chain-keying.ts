import { randomUUID } from 'node:crypto';
import type { AdminAuditRecord } from './audit-records.js';

/**
 * The record a broker writes when it starts on a chain whose newest link is not keyed (a database from before the
 * chain was keyed): from it on, the content of every record before is pinned under the chain key.
 */
export const CHAIN_KEYED_ACTION = 'audit.chain_keyed';

export function chainKeyedRecord(unkeyedRecords: number, time = new Date()): AdminAuditRecord {
  return {
    kind: 'admin',
    time: time.toISOString(),
    request_id: randomUUID(),
    // Written by the broker itself, for no request and no peer.
    source_ip: '',
    outcome: 'allowed',
    code: null,
    admin_token_id: null,
    admin_label: null,
    role: null,
    action: CHAIN_KEYED_ACTION,
    target: null,
    detail: { unkeyed_records: unkeyedRecords },
  };
}

/** True when `record` is the keying record of a chain whose first `unkeyedRecords` records are not keyed. */
export function isChainKeyedRecord(record: string, unkeyedRecords: number): boolean {
  try {
    const parsed = JSON.parse(record) as {
      kind?: unknown;
      action?: unknown;
      outcome?: unknown;
      detail?: { unkeyed_records?: unknown } | null;
    };
    return (
      parsed.kind === 'admin' &&
      parsed.action === CHAIN_KEYED_ACTION &&
      parsed.outcome === 'allowed' &&
      parsed.detail?.unkeyed_records === unkeyedRecords
    );
  } catch {
    return false;
  }
}
