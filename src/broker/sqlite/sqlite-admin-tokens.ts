import type { AdminTokenRecord, AdminTokens } from '../store/interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';
import { toTokenRecord, type TokenRow } from '../store/rows.js';

export class SqliteAdminTokens implements AdminTokens {
  private readonly statements;

  constructor(database: SqliteDatabase) {
    this.statements = {
      find: database.prepare<[string], TokenRow>('SELECT * FROM admin_tokens WHERE id = ?'),
      insert: database.prepare<[string, string, string, Buffer, string]>(
        'INSERT INTO admin_tokens (id, label, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      count: database.prepare<[], { n: number }>('SELECT count(*) AS n FROM admin_tokens'),
      list: database.prepare<[], TokenRow>('SELECT * FROM admin_tokens ORDER BY created_at, id'),
      revoke: database.prepare<[string, string]>(
        'UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
      ),
    };
  }

  find(id: string): Promise<AdminTokenRecord | undefined> {
    return guarded('reading admin tokens', () => {
      const row = this.statements.find.get(id);
      return row === undefined ? undefined : toTokenRecord(row);
    });
  }

  list(): Promise<AdminTokenRecord[]> {
    return guarded('listing admin tokens', () => this.statements.list.all().map(toTokenRecord));
  }

  revoke(id: string, at: string): Promise<boolean> {
    return guarded('revoking an admin token', () => this.statements.revoke.run(at, id).changes === 1);
  }

  insert(record: Omit<AdminTokenRecord, 'revokedAt'>): Promise<void> {
    return guarded('storing an admin token', () => {
      this.statements.insert.run(record.id, record.label, record.role, record.tokenHash, record.createdAt);
    });
  }

  count(): Promise<number> {
    return guarded('counting admin tokens', () => this.statements.count.get()?.n ?? 0);
  }
}
