import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  AuditBatcher,
  linkBatch,
  writtenEntries,
  type AppendOutcome,
  type PendingAppend,
} from '../audit/audit-batcher.js';
import type { AuditEntry, AuditFilter, AuditRecords, TokenUse } from '../store/interfaces.js';
import { auditFilterConditions } from './audit-filter.js';
import { insertTokenUses, tokenUseKey } from './token-uses.js';
import { toAuditEntry, type AuditRow } from './rows.js';
import {
  execute,
  raw,
  select,
  sql,
  valueRows,
  type Dialect,
  type SqlDatabase,
  type Work,
} from './statement.js';

/** Records an audit query reads per statement: a few milliseconds of SQLite on the event loop. */
export const AUDIT_SCAN_WINDOW = 5000;

function* readHead(): Work<{ seq: number; hash: string } | undefined> {
  const [head] = yield* select<{ seq: number | string; hash: string }>(
    sql`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`,
  );
  return head === undefined ? undefined : { seq: Number(head.seq), hash: head.hash };
}

/** Says per append whether it may write its record: no token, or a token this insert recorded first. */
function* recordTokenUses(appends: readonly PendingAppend[]): Work<boolean[]> {
  const uses = appends.flatMap(({ tokenUse }) => (tokenUse === undefined ? [] : [tokenUse]));
  if (uses.length === 0) return appends.map(() => true);
  // One token twice in a batch is inserted once and only its first append counts.
  const inserted = yield* insertTokenUses(uses);
  return appends.map(({ tokenUse }) => tokenUse === undefined || inserted.delete(tokenUseKey(tokenUse)));
}

/** A batch in one transaction: its token uses, then its records at the chain's head, in order. */
function* writeBatch(dialect: Dialect, appends: readonly PendingAppend[]): Work<AppendOutcome[]> {
  const fresh = yield* recordTokenUses(appends);
  if (dialect.auditChainLock !== undefined) yield* execute(dialect.auditChainLock);
  const outcomes = linkBatch(yield* readHead(), appends, (_, index) => fresh[index] === true);
  const entries = writtenEntries(outcomes);
  if (entries.length > 0) {
    yield* execute(
      sql`INSERT INTO audit_log (seq, record, prev_hash, hash)
          VALUES ${valueRows(entries.map((entry) => [entry.seq, entry.record, entry.prevHash, entry.hash]))}`,
    );
  }
  return outcomes;
}

export class SqlAuditRecords implements AuditRecords {
  private readonly batcher = new AuditBatcher((appends) =>
    // One transaction (one commit, with SQLite one fsync) for the whole batch.
    this.database.transaction('writing the audit record', () => writeBatch(this.database.dialect, appends)),
  );

  constructor(
    private readonly database: SqlDatabase,
    private readonly scanWindow = AUDIT_SCAN_WINDOW,
  ) {}

  append(
    record: string,
    hashFor: (prevHash: string, record: string) => string,
    tokenUse?: TokenUse,
  ): Promise<AuditEntry> {
    return this.batcher.append({ record, hashFor, tokenUse });
  }

  /** The newest record, once it is on disk: the head is published, and must not be one a power cut undoes. */
  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const head = await this.database.run('reading the audit log', readHead);
    await this.database.settled();
    return head;
  }

  page(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return this.database.run('reading the audit log', function* () {
      const rows = yield* select<AuditRow>(
        sql`SELECT seq, record, prev_hash, hash FROM audit_log WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
      );
      return rows.map(toAuditEntry);
    });
  }

  /**
   * The records after `afterSeq` that match, at most `limit`. The log is searched a window of `scanWindow`
   * records at a time, letting other requests in between windows: a filter that matches little would otherwise
   * scan the whole log in one statement, which with SQLite holds the event loop for as long (half a second at
   * 300,000 records).
   */
  async query(filter: AuditFilter, afterSeq: number, limit: number): Promise<AuditEntry[]> {
    const json = this.database.dialect.auditJson;
    const newest = (await this.database.run('querying the audit log', readHead))?.seq ?? 0;
    const found: AuditEntry[] = [];
    for (let from = afterSeq; found.length < limit && from < newest; from += this.scanWindow) {
      const upTo = from + this.scanWindow;
      const wanted = limit - found.length;
      const rows = await this.database.run('querying the audit log', function* () {
        return yield* select<AuditRow>(
          sql`SELECT seq, record, prev_hash, hash FROM ${raw(json.from)}
              WHERE ${auditFilterConditions(json, filter, from)} AND seq <= ${upTo}
              ORDER BY seq LIMIT ${wanted}`,
        );
      });
      found.push(...rows.map(toAuditEntry));
      await nextTurn();
    }
    return found;
  }
}
