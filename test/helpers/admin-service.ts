import { randomBytes } from 'node:crypto';
import { AdminAuthFailures } from '../../src/broker/admin/admin-auth-failures.js';
import { AdminCredentials } from '../../src/broker/admin/admin-credentials.js';
import { AdminService } from '../../src/broker/admin/admin-service.js';
import { AuditChainKeys } from '../../src/broker/audit/audit-chain-keys.js';
import { AuditLog } from '../../src/broker/audit/audit-log.js';
import type { Clock } from '../../src/broker/exchange/clock.js';
import { createLogger } from '../../src/broker/logger.js';
import { createMetrics, type BrokerMetrics } from '../../src/broker/metrics.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { PolicyHolder } from '../../src/broker/policy/policy-holder.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { KeyRing } from '../../src/broker/store/key-ring.js';
import { KeyRotation } from '../../src/broker/store/key-rotation.js';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';
import { SecretVault } from '../../src/broker/store/secret-vault.js';
import { testPolicy } from './broker-harness.js';

export interface DirectAdmin {
  readonly admin: AdminService;
  readonly stores: Stores;
  readonly vault: SecretVault;
  readonly metrics: BrokerMetrics;
}

/** An AdminService over an in-memory SQLite store, called directly (no route, no HTTP); close its stores after. */
export function directAdminService(clock?: Clock): DirectAdmin {
  const logger = createLogger('silent', { write: () => undefined });
  const stores = openSqliteStores(':memory:');
  const masterKey = masterKeyFromBytes(randomBytes(32));
  const keyRing = new KeyRing(masterKey);
  const vault = new SecretVault(stores.secrets, keyRing);
  const chainKeys = new AuditChainKeys(masterKey);
  const metrics = createMetrics();
  const admin = new AdminService({
    policy: new PolicyHolder(
      parsePolicy(testPolicy('https://a.example', 'https://b.example'), 'policy.yaml'),
    ),
    credentials: new AdminCredentials(stores.adminTokens, undefined),
    tokens: stores.adminTokens,
    vault,
    audit: new AuditLog(stores.audit, logger, chainKeys),
    auditRecords: stores.audit,
    chainKeys,
    authFailures: new AdminAuthFailures(),
    rotation: new KeyRotation(stores.secrets, keyRing, stores.meta),
    metrics,
    logger,
    ...(clock === undefined ? {} : { clock }),
  });
  return { admin, stores, vault, metrics };
}
