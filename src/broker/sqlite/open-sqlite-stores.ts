import { SqlAuditRecords } from '../sql/sql-audit-records.js';
import { SqlRunOutputs } from '../sql/sql-run-outputs.js';
import { SqlSecretRecords } from '../sql/sql-secret-records.js';
import { SqlAdminTokens, SqlMetaSettings, SqlReplayCache } from '../sql/sql-small-stores.js';
import type { Stores } from '../store/interfaces.js';
import { guarded, openSqliteDatabase, type SqliteOptions } from './database.js';
import { sqliteSql } from './sqlite-sql.js';

export function openSqliteStores(file: string, options: SqliteOptions = {}): Stores {
  const connection = openSqliteDatabase(file, options);
  const { database } = connection;
  const statements = sqliteSql(connection);
  const ping = database.prepare('SELECT 1');
  return {
    kind: 'sqlite',
    secrets: new SqlSecretRecords(statements),
    outputs: new SqlRunOutputs(statements),
    replay: new SqlReplayCache(statements),
    audit: new SqlAuditRecords(statements),
    adminTokens: new SqlAdminTokens(statements),
    meta: new SqlMetaSettings(statements),
    // Not ready once writes can no longer be made durable: they all fail until a restart.
    ping: () =>
      guarded(database, 'checking the database', () => {
        connection.assertWritable();
        ping.get();
      }),
    close: () => connection.close(),
  };
}
