import { SqlAuditRecords } from '../sql/sql-audit-records.js';
import { SqlRunOutputs } from '../sql/sql-run-outputs.js';
import { SqlSecretRecords } from '../sql/sql-secret-records.js';
import { SqlAdminTokens, SqlMetaSettings, SqlReplayCache } from '../sql/sql-small-stores.js';
import type { Stores } from '../store/interfaces.js';
import { createPool, migrate, postgresSql, query } from './database.js';

/** The shared store for several broker replicas (SECRETS_BROKER_DATABASE_URL=postgres://…). */
export async function openPostgresStores(url: string): Promise<Stores> {
  const pool = createPool(url);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const statements = postgresSql(pool);
  return {
    kind: 'postgres',
    secrets: new SqlSecretRecords(statements),
    outputs: new SqlRunOutputs(statements),
    replay: new SqlReplayCache(statements),
    audit: new SqlAuditRecords(statements),
    adminTokens: new SqlAdminTokens(statements),
    meta: new SqlMetaSettings(statements),
    ping: async () => {
      await query(pool, 'checking the database', 'SELECT 1');
    },
    close: () => pool.end(),
  };
}
