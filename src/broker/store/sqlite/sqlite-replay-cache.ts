import type { ReplayCache } from '../interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';

export class SqliteReplayCache implements ReplayCache {
  private readonly insert;
  private readonly purge;

  constructor(database: SqliteDatabase) {
    // One unique insert is the whole check, so two concurrent redemptions cannot both win.
    this.insert = database.prepare<[string, string, number]>(
      'INSERT INTO used_tokens (issuer, jti_sha256, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.purge = database.prepare<[number]>('DELETE FROM used_tokens WHERE expires_at < ?');
  }

  claim(issuer: string, jtiHash: string, expiresAtSeconds: number): Promise<boolean> {
    return guarded(
      'recording a used token',
      () => this.insert.run(issuer, jtiHash, expiresAtSeconds).changes === 1,
    );
  }

  purgeExpired(nowSeconds: number): Promise<number> {
    return guarded('purging used tokens', () => this.purge.run(nowSeconds).changes);
  }
}
