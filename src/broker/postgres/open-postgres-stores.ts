import type { Stores } from '../store/interfaces.js';
import { createPool, migrate, query } from './database.js';
import { PostgresAuditRecords } from './pg-audit-records.js';
import { PostgresSecretRecords } from './pg-secret-records.js';
import { PostgresAdminTokens, PostgresMetaSettings, PostgresReplayCache } from './pg-small-stores.js';

/** The shared store for several broker replicas (SECRETS_BROKER_DATABASE_URL=postgres://…). */
export async function openPostgresStores(url: string): Promise<Stores> {
  const pool = createPool(url);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    kind: 'postgres',
    secrets: new PostgresSecretRecords(pool),
    replay: new PostgresReplayCache(pool),
    audit: new PostgresAuditRecords(pool),
    adminTokens: new PostgresAdminTokens(pool),
    meta: new PostgresMetaSettings(pool),
    ping: async () => {
      await query(pool, 'checking the database', 'SELECT 1');
    },
    close: () => pool.end(),
  };
}
