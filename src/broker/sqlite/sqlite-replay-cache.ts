import type { ReplayCache } from '../store/interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';

export class SqliteReplayCache implements ReplayCache {
  private readonly purge;

  constructor(database: SqliteDatabase) {
    this.purge = database.prepare<[number]>('DELETE FROM used_tokens WHERE expires_at < ?');
  }

  purgeExpired(nowSeconds: number): Promise<number> {
    return guarded('purging used tokens', () => this.purge.run(nowSeconds).changes);
  }
}
