import type { AuditEntry, AuditRecords } from '../interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';

export const GENESIS_HASH = '0'.repeat(64);

interface AuditRow {
  seq: number;
  record: string;
  prev_hash: string;
  hash: string;
}

export class SqliteAuditRecords implements AuditRecords {
  private readonly statements;

  constructor(private readonly database: SqliteDatabase) {
    this.statements = {
      head: database.prepare<[], { seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      ),
      insert: database.prepare<[number, string, string, string]>(
        'INSERT INTO audit_log (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)',
      ),
      page: database.prepare<[number, number], AuditRow>(
        'SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
    };
  }

  append(record: string, hashFor: (prevHash: string, record: string) => string): Promise<AuditEntry> {
    return guarded('writing the audit record', () =>
      this.database
        .transaction(() => {
          const head = this.statements.head.get();
          const prevHash = head?.hash ?? GENESIS_HASH;
          const seq = (head?.seq ?? 0) + 1;
          const hash = hashFor(prevHash, record);
          this.statements.insert.run(seq, record, prevHash, hash);
          return { seq, record, prevHash, hash };
        })
        .immediate(),
    );
  }

  page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return guarded('reading the audit log', () =>
      this.statements.page
        .all(afterSeq, limit)
        .map((row) => ({ seq: row.seq, record: row.record, prevHash: row.prev_hash, hash: row.hash })),
    );
  }
}
