import { SqlAuditRecords } from '../sql/sql-audit-records.js';
import { SqlSecretRecords } from '../sql/sql-secret-records.js';
import { SqlAdminTokens, SqlMetaSettings, SqlReplayCache } from '../sql/sql-small-stores.js';
import type { Stores } from '../store/interfaces.js';
import { guarded, openSqliteDatabase } from './database.js';
import { sqliteSql } from './sqlite-sql.js';

export function openSqliteStores(file: string): Stores {
  const database = openSqliteDatabase(file);
  const statements = sqliteSql(database);
  const ping = database.prepare('SELECT 1');
  return {
    kind: 'sqlite',
    secrets: new SqlSecretRecords(statements),
    replay: new SqlReplayCache(statements),
    audit: new SqlAuditRecords(statements),
    adminTokens: new SqlAdminTokens(statements),
    meta: new SqlMetaSettings(statements),
    ping: () => guarded(database, 'checking the database', () => void ping.get()),
    close: async () => {
      database.close();
    },
  };
}
