import { createHash } from 'node:crypto';
import type { AuditEntry, AuditRecords } from '../store/interfaces.js';
import { GENESIS_HASH } from '../store/audit-batcher.js';

/** hash = SHA-256(previous hash, newline, the record's exact JSON text). */
export function chainHash(prevHash: string, record: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(record).digest('hex');
}

export interface ChainVerification {
  readonly ok: boolean;
  readonly checked: number;
  readonly lastSeq: number;
  readonly problem?: { readonly seq: number; readonly reason: string };
}

/** Walks the whole chain and names the first record that breaks it (edited, deleted or reordered). */
export async function verifyAuditChain(records: AuditRecords, pageSize = 1000): Promise<ChainVerification> {
  let expectedPrev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  for (;;) {
    const page: AuditEntry[] = await records.page(expectedSeq - 1, pageSize);
    if (page.length === 0) return { ok: true, checked, lastSeq: expectedSeq - 1 };
    for (const entry of page) {
      const fail = (reason: string): ChainVerification => ({
        ok: false,
        checked,
        lastSeq: entry.seq,
        problem: { seq: entry.seq, reason },
      });
      if (entry.seq !== expectedSeq) {
        return fail(
          `record ${expectedSeq}${entry.seq > expectedSeq + 1 ? `-${entry.seq - 1}` : ''} is missing (deleted)`,
        );
      }
      if (entry.prevHash !== expectedPrev) {
        return fail(
          `record ${entry.seq} does not follow record ${entry.seq - 1} (its previous hash differs: reordered, or the one before was replaced)`,
        );
      }
      if (chainHash(entry.prevHash, entry.record) !== entry.hash) {
        return fail(`record ${entry.seq} was edited (its content no longer matches its hash)`);
      }
      expectedPrev = entry.hash;
      expectedSeq += 1;
      checked += 1;
    }
  }
}
