import {
  TokenAlreadyUsedError,
  type AuditEntry,
  type AuditFilter,
  type AuditRecords,
  type TokenUse,
} from '../interfaces.js';
import { GENESIS_HASH } from '../sqlite/sqlite-audit-records.js';
import { AUDIT_CHAIN_LOCK, query, transaction, type PostgresPool } from './database.js';
import { toAuditEntry, type AuditRow } from '../rows.js';

export class PostgresAuditRecords implements AuditRecords {
  constructor(private readonly pool: PostgresPool) {}

  append(
    record: string,
    hashFor: (prevHash: string, record: string) => string,
    tokenUse?: TokenUse,
  ): Promise<AuditEntry> {
    return transaction(this.pool, 'writing the audit record', async (client) => {
      if (tokenUse !== undefined) {
        // One unique insert is the whole single-use check: of two replicas redeeming one token, one commits.
        const used = await query(
          client,
          'recording a used token',
          'INSERT INTO used_tokens (issuer, jti_sha256, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [tokenUse.issuer, tokenUse.jtiHash, tokenUse.expiresAtSeconds],
        );
        if (used.rowCount === 0) throw new TokenAlreadyUsedError('the token was used before');
      }
      // Writers from every replica take turns here, so the chain stays one chain.
      await query(client, 'writing the audit record', 'SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
      const { rows } = await query<{ seq: string; hash: string }>(
        client,
        'writing the audit record',
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      );
      const prevHash = rows[0]?.hash ?? GENESIS_HASH;
      const seq = Number(rows[0]?.seq ?? 0) + 1;
      const hash = hashFor(prevHash, record);
      await query(
        client,
        'writing the audit record',
        'INSERT INTO audit_log (seq, record, prev_hash, hash) VALUES ($1, $2, $3, $4)',
        [seq, record, prevHash, hash],
      );
      return { seq, record, prevHash, hash };
    });
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
