import { type AuditEntry, type AuditFilter, type AuditRecords, type TokenUse } from '../store/interfaces.js';
import { AUDIT_CHAIN_LOCK, query, transaction, type PostgresPool, type Queryable } from './database.js';
import {
  AuditBatcher,
  linkBatch,
  writtenEntries,
  type AppendOutcome,
  type PendingAppend,
} from '../audit/audit-batcher.js';
import { toAuditEntry, type AuditRow } from '../store/rows.js';

async function readHead(client: Queryable, what: string): Promise<{ seq: number; hash: string } | undefined> {
  const { rows } = await query<{ seq: string; hash: string }>(
    client,
    what,
    'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  );
  return rows[0] === undefined ? undefined : { seq: Number(rows[0].seq), hash: rows[0].hash };
}

export class PostgresAuditRecords implements AuditRecords {
  private readonly batcher = new AuditBatcher((appends) => this.writeBatch(appends));

  constructor(private readonly pool: PostgresPool) {}

  append(
    record: string,
    hashFor: (prevHash: string, record: string) => string,
    tokenUse?: TokenUse,
  ): Promise<AuditEntry> {
    return this.batcher.append({ record, hashFor, tokenUse });
  }

  /** One transaction for the whole batch: its token uses, then its records at the chain's head, in order. */
  private writeBatch(appends: readonly PendingAppend[]): Promise<AppendOutcome[]> {
    return transaction(this.pool, 'writing the audit record', async (client) => {
      const fresh = await this.recordTokenUses(client, appends);
      // Writers from every replica take turns here, so the chain stays one chain.
      await query(client, 'writing the audit record', 'SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
      const head = await readHead(client, 'writing the audit record');
      const outcomes = linkBatch(head, appends, (_, index) => fresh[index] === true);
      const entries = writtenEntries(outcomes);
      if (entries.length > 0) {
        await query(
          client,
          'writing the audit record',
          'INSERT INTO audit_log (seq, record, prev_hash, hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])',
          [
            entries.map((entry) => entry.seq),
            entries.map((entry) => entry.record),
            entries.map((entry) => entry.prevHash),
            entries.map((entry) => entry.hash),
          ],
        );
      }
      return outcomes;
    });
  }

  /**
   * One unique insert is the whole single-use check: of two replicas redeeming one token, one commits. Says per
   * append whether it may write its record (no token, or a token this insert recorded first).
   */
  private async recordTokenUses(client: Queryable, appends: readonly PendingAppend[]): Promise<boolean[]> {
    const uses = appends.flatMap(({ tokenUse }) => (tokenUse === undefined ? [] : [tokenUse]));
    if (uses.length === 0) return appends.map(() => true);
    const { rows } = await query<{ issuer: string; jti_sha256: string }>(
      client,
      'recording a used token',
      `INSERT INTO used_tokens (issuer, jti_sha256, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
       ON CONFLICT DO NOTHING RETURNING issuer, jti_sha256`,
      [
        uses.map((use) => use.issuer),
        uses.map((use) => use.jtiHash),
        uses.map((use) => use.expiresAtSeconds),
      ],
    );
    // Keyed by issuer and hash; one token twice in a batch is inserted once and only its first append counts.
    const inserted = new Set(rows.map((row) => `${row.issuer}\n${row.jti_sha256}`));
    return appends.map(({ tokenUse }) => {
      if (tokenUse === undefined) return true;
      return inserted.delete(`${tokenUse.issuer}\n${tokenUse.jtiHash}`);
    });
  }

  head(): Promise<{ seq: number; hash: string } | undefined> {
    return readHead(this.pool, 'reading the audit log');
  }

  async page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    const { rows } = await query<AuditRow>(
      this.pool,
      'reading the audit log',
      'SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
      [afterSeq, limit],
    );
    return rows.map(toAuditEntry);
  }

  async query(filter: AuditFilter, afterSeq: number, limit: number): Promise<AuditEntry[]> {
    const { rows } = await query<AuditRow>(
      this.pool,
      'querying the audit log',
      `SELECT * FROM audit_log, LATERAL (SELECT record::jsonb AS r) j
       WHERE seq > $1
         AND ($3::text IS NULL OR r->>'time' >= $3)
         AND ($4::text IS NULL OR r->>'time' < $4)
         AND ($5::text IS NULL OR r->>'kind' = $5)
         AND ($6::text IS NULL OR r->>'outcome' = $6)
         AND ($7::text IS NULL OR r->>'repository' = $7)
         AND ($8::text IS NULL OR r->>'request_id' = $8)
         AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(r->'rules', '[]'::jsonb)) v WHERE v = $9))
         AND ($10::text IS NULL
              OR r->>'target' = $10
              OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(r->'requested', '[]'::jsonb)) v WHERE v IN ($10, $10 || '?'))
              OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(r->'released', '[]'::jsonb)) v WHERE v->>'name' = $10))
       ORDER BY seq LIMIT $2`,
      [
        afterSeq,
        limit,
        filter.since ?? null,
        filter.until ?? null,
        filter.kind ?? null,
        filter.outcome ?? null,
        filter.repository ?? null,
        filter.requestId ?? null,
        filter.rule ?? null,
        filter.secret ?? null,
      ],
    );
    return rows.map(toAuditEntry);
  }
}
