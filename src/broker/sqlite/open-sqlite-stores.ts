import type { Stores } from '../store/interfaces.js';
import { guarded, openSqliteDatabase } from './database.js';
import { SqliteAdminTokens } from './sqlite-admin-tokens.js';
import { SqliteMetaSettings } from './sqlite-meta-settings.js';
import { SqliteAuditRecords } from './sqlite-audit-records.js';
import { SqliteReplayCache } from './sqlite-replay-cache.js';
import { SqliteSecretRecords } from './sqlite-secret-records.js';

export function openSqliteStores(file: string): Stores {
  const database = openSqliteDatabase(file);
  const ping = database.prepare('SELECT 1');
  return {
    kind: 'sqlite',
    secrets: new SqliteSecretRecords(database),
    replay: new SqliteReplayCache(database),
    audit: new SqliteAuditRecords(database),
    adminTokens: new SqliteAdminTokens(database),
    meta: new SqliteMetaSettings(database),
    ping: () => guarded('checking the database', () => void ping.get()),
    close: async () => {
      database.close();
    },
  };
}
