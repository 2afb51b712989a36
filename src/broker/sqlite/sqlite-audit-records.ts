import { type AuditEntry, type AuditFilter, type AuditRecords, type TokenUse } from '../store/interfaces.js';
import {
  AuditBatcher,
  linkBatch,
  writtenEntries,
  type AppendOutcome,
  type PendingAppend,
} from '../audit/audit-batcher.js';
import { guarded, type SqliteDatabase } from './database.js';
import { toAuditEntry, type AuditRow } from '../store/rows.js';

interface QueryParameters {
  after: number;
  limit: number;
  since: string | null;
  until: string | null;
  kind: string | null;
  outcome: string | null;
  repository: string | null;
  request_id: string | null;
  rule: string | null;
  secret: string | null;
}

export class SqliteAuditRecords implements AuditRecords {
  private readonly statements;
  private readonly batcher = new AuditBatcher((appends) => this.writeBatch(appends));

  constructor(private readonly database: SqliteDatabase) {
    this.statements = {
      head: database.prepare<[], { seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      ),
      useToken: database.prepare<[string, string, number]>(
        // One unique insert is the whole single-use check: two redemptions of one token cannot both commit.
        'INSERT INTO used_tokens (issuer, jti_sha256, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      insert: database.prepare<[number, string, string, string]>(
        'INSERT INTO audit_log (seq, record, prev_hash, hash) VALUES (?, ?, ?, ?)',
      ),
      page: database.prepare<[number, number], AuditRow>(
        'SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      query: database.prepare<[QueryParameters], AuditRow>(
        `SELECT * FROM audit_log
         WHERE seq > @after
           AND (@since IS NULL OR json_extract(record, '$.time') >= @since)
           AND (@until IS NULL OR json_extract(record, '$.time') < @until)
           AND (@kind IS NULL OR json_extract(record, '$.kind') = @kind)
           AND (@outcome IS NULL OR json_extract(record, '$.outcome') = @outcome)
           AND (@repository IS NULL OR json_extract(record, '$.repository') = @repository)
           AND (@request_id IS NULL OR json_extract(record, '$.request_id') = @request_id)
           AND (@rule IS NULL OR EXISTS (SELECT 1 FROM json_each(record, '$.rules') WHERE value = @rule))
           AND (@secret IS NULL
                OR json_extract(record, '$.target') = @secret
                OR EXISTS (SELECT 1 FROM json_each(record, '$.requested') WHERE value IN (@secret, @secret || '?'))
                OR EXISTS (SELECT 1 FROM json_each(record, '$.released') WHERE json_extract(value, '$.name') = @secret))
         ORDER BY seq LIMIT @limit`,
      ),
    };
  }

  append(
    record: string,
    hashFor: (prevHash: string, record: string) => string,
    tokenUse?: TokenUse,
  ): Promise<AuditEntry> {
    return this.batcher.append({ record, hashFor, tokenUse });
  }

  /** One IMMEDIATE transaction (one commit, one fsync) for the whole batch; the chain runs through it in order. */
  private writeBatch(appends: readonly PendingAppend[]): Promise<AppendOutcome[]> {
    return guarded('writing the audit record', () =>
      this.database
        .transaction(() => {
          // ON CONFLICT DO NOTHING wrote nothing for a used token, so skipping its record needs no savepoint.
          const outcomes = linkBatch(
            this.statements.head.get(),
            appends,
            ({ tokenUse }) =>
              tokenUse === undefined ||
              this.statements.useToken.run(tokenUse.issuer, tokenUse.jtiHash, tokenUse.expiresAtSeconds)
                .changes === 1,
          );
          for (const entry of writtenEntries(outcomes))
            this.statements.insert.run(entry.seq, entry.record, entry.prevHash, entry.hash);
          return outcomes;
        })
        .immediate(),
    );
  }

  head(): Promise<{ seq: number; hash: string } | undefined> {
    return guarded('reading the audit log', () => this.statements.head.get());
  }

  page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return guarded('reading the audit log', () =>
      this.statements.page.all(afterSeq, limit).map(toAuditEntry),
    );
  }

  query(filter: AuditFilter, afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return guarded('querying the audit log', () =>
      this.statements.query
        .all({
          after: afterSeq,
          limit,
          since: filter.since ?? null,
          until: filter.until ?? null,
          kind: filter.kind ?? null,
          outcome: filter.outcome ?? null,
          repository: filter.repository ?? null,
          request_id: filter.requestId ?? null,
          rule: filter.rule ?? null,
          secret: filter.secret ?? null,
        })
        .map(toAuditEntry),
    );
  }
}
