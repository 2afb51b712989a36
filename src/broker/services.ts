/**
 * The broker's services over its stores and keys, and the HTTP app in front of them: what `startBroker` serves,
 * and what tests drive in memory with `app.request()`.
 */
import type { BlockList } from 'node:net';
import type { Logger } from 'pino';
import {
  AdminAuthFailures,
  DEFAULT_ADMIN_AUTH_LIMITS,
  type AdminAuthLimits,
} from './admin/admin-auth-failures.js';
import { AdminCredentials } from './admin/admin-credentials.js';
import { AdminService, type AdminDependencies } from './admin/admin-service.js';
import { AuditChainKeys } from './audit/audit-chain-keys.js';
import { AuditLog } from './audit/audit-log.js';
import { BOOTSTRAP_TOKEN_VARIABLE, type BrokerConfig } from './config.js';
import { SYSTEM_CLOCK, type Clock } from './exchange/clock.js';
import { ExchangeService } from './exchange/exchange-service.js';
import { ListService } from './exchange/list-service.js';
import { OutputService } from './exchange/output-service.js';
import { RunOutputKeys } from './outputs/run-output-keys.js';
import { RunOutputReader } from './outputs/run-output-reader.js';
import { SpentTokens } from './exchange/spent-tokens.js';
import { WorkloadRequests } from './exchange/workload-request.js';
import { SealingThread } from './sealing-thread.js';
import { createApp } from './http/create-app.js';
import { createMetrics, type BrokerMetrics } from './metrics.js';
import { DEFAULT_ISSUER_KEYS_OPTIONS, type IssuerKeysOptions } from './oidc/issuer-keys.js';
import { TokenVerifier } from './oidc/token-verifier.js';
import type { PolicyHolder } from './policy/policy-holder.js';
import type { Stores } from './store/interfaces.js';
import type { KeyRing } from './store/key-ring.js';
import { KeyRotation } from './store/key-rotation.js';
import type { MasterKey } from './store/master-key.js';
import type { SecretVault } from './store/secret-vault.js';
import { parseTrustedProxies } from './traffic/source-ip.js';
import { TokenBuckets } from './traffic/token-bucket.js';
import { BROKER_VERSION } from './version.js';

/** What of the configuration the services read. */
export type ServiceSettings = Pick<
  BrokerConfig,
  'adminToken' | 'adminTokenVariable' | 'trustProxy' | 'keyLegacyAudit'
>;

export interface ServiceOptions {
  readonly logger: Logger;
  readonly issuerKeys?: IssuerKeysOptions;
  /** Failed admin authentication limits (tests inject a clock and small numbers). */
  readonly adminAuthLimits?: Partial<AdminAuthLimits>;
  /** The time rule windows, secret expiry and read budgets are decided by (tests give their own). */
  readonly clock?: Clock;
}

/** The master keys the services work with, and the vault that reads with them. */
export interface ServiceKeys {
  readonly current: MasterKey;
  readonly old: MasterKey | undefined;
  readonly keyRing: KeyRing;
  readonly vault: SecretVault;
}

export interface Services {
  readonly exchange: ExchangeService;
  readonly list: ListService;
  readonly outputs: OutputService;
  /** The run-output key pairs this replica holds (refreshed from the store). */
  readonly outputKeys: RunOutputKeys;
  readonly app: ReturnType<typeof createApp>;
  readonly metrics: BrokerMetrics;
  readonly verifier: TokenVerifier;
  readonly vault: SecretVault;
  readonly audit: AuditLog;
  readonly chainKeys: AuditChainKeys;
  readonly admin: AdminService;
  readonly authLimits: AdminAuthLimits;
  readonly trustedProxies: BlockList | undefined;
  /** The exchange's sealing worker thread: closed with the services. */
  readonly sealer: SealingThread;
}

/**
 * The exchange and admin services over the stores, and the HTTP app in front of them. A little over 60 lines:
 * the constructor calls in dependency order read best as one list.
 */
export async function createServices(
  config: ServiceSettings,
  options: ServiceOptions,
  policy: PolicyHolder,
  stores: Stores,
  keys: ServiceKeys,
): Promise<Services> {
  const { logger } = options;
  const metrics = createMetrics();
  metrics.policyRules.set(policy.current.rules.length);
  metrics.policyReloadOk.set(1);
  const verifier = new TokenVerifier(
    logger,
    (issuer) => metrics.issuerKeyRefreshFailures.inc({ issuer }),
    options.issuerKeys ?? DEFAULT_ISSUER_KEYS_OPTIONS,
  );
  verifier.track(policy.current);
  const sealer = new SealingThread();
  try {
    const chainKeys = new AuditChainKeys(keys.current, keys.old === undefined ? [] : [keys.old]);
    const audit = new AuditLog(stores.audit, logger, chainKeys);
    // A log from before the keyed chain is keyed only when the operator says so; otherwise the broker stops here.
    await audit.checkKeyed(config.keyLegacyAudit === true);
    const authLimits = { ...DEFAULT_ADMIN_AUTH_LIMITS, ...options.adminAuthLimits };
    const { vault } = keys;
    const clock = options.clock ?? SYSTEM_CLOCK;
    const requests = new WorkloadRequests({
      workloadLimits: new TokenBuckets(),
      spentTokens: new SpentTokens(),
      clock,
      policy,
      verifier,
      audit,
      metrics,
      logger,
    });
    const outputKeys = await RunOutputKeys.load(stores.outputs, keys.keyRing, logger);
    const exchange = new ExchangeService({
      requests,
      vault,
      sealer,
      outputs: new RunOutputReader(stores.outputs, outputKeys),
    });
    const list = new ListService({
      requests,
      vault,
      verifyKeyProof: (jobKey, proof, request) => outputKeys.verifyKeyProof(jobKey, proof, request),
    });
    const outputs = new OutputService({ requests, records: stores.outputs, keys: outputKeys });
    const admin = createAdminService(config, stores, keys, authLimits, {
      outputKeys,
      clock,
      policy,
      audit,
      chainKeys,
      metrics,
      logger,
    });
    const trustedProxies =
      config.trustProxy === undefined ? undefined : parseTrustedProxies(config.trustProxy);
    const app = createApp({
      sourceLimits: new TokenBuckets(),
      trustedProxies,
      exchange,
      list,
      outputs,
      admin,
      policy,
      verifier,
      stores,
      metrics,
      logger,
      version: BROKER_VERSION,
      sealingProblem: () => sealer.problem,
      runOutputKey: () => outputKeys.current,
    });
    return {
      app,
      exchange,
      list,
      outputs,
      outputKeys,
      metrics,
      verifier,
      vault,
      audit,
      chainKeys,
      admin,
      authLimits,
      trustedProxies,
      sealer,
    };
  } catch (error) {
    verifier.stop();
    await sealer.close();
    throw error;
  }
}

/** The admin operations, with the server's owner token from the environment when one is configured. */
function createAdminService(
  config: ServiceSettings,
  stores: Stores,
  keys: ServiceKeys,
  authLimits: AdminAuthLimits,
  shared: Pick<
    AdminDependencies,
    'clock' | 'policy' | 'audit' | 'chainKeys' | 'metrics' | 'logger' | 'outputKeys'
  >,
): AdminService {
  return new AdminService({
    ...shared,
    credentials: new AdminCredentials(
      stores.adminTokens,
      config.adminToken,
      config.adminTokenVariable ?? BOOTSTRAP_TOKEN_VARIABLE,
    ),
    tokens: stores.adminTokens,
    vault: keys.vault,
    auditRecords: stores.audit,
    authFailures: new AdminAuthFailures(authLimits),
    rotation: new KeyRotation(stores.secrets, keys.keyRing, stores.meta),
  });
}
