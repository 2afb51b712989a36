import { mkdir, readFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as NetServer } from 'node:net';
import type { AddressInfo, BlockList } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { AdminCredentials, createAdminToken } from './admin/admin-credentials.js';
import type { ChainHead } from './audit/audit-chain.js';
import { AuditChainKeys } from './audit/audit-chain-keys.js';
import { AuditLog } from './audit/audit-log.js';
import { createServices, type ServiceKeys, type ServiceOptions, type Services } from './services.js';
import { ChainHeadPublisher, DEFAULT_HEAD_INTERVAL_MS } from './audit/chain-head-publisher.js';
import { BOOTSTRAP_TOKEN_VARIABLE, LEGACY_BOOTSTRAP_TOKEN_VARIABLE, type BrokerConfig } from './config.js';
import { createApp } from './http/create-app.js';
import { loadPolicyFile } from './policy/load-policy.js';
import { PolicyHolder } from './policy/policy-holder.js';
import { PolicyReloader, type ReloadResult } from './policy/policy-reloader.js';
import type { Stores } from './store/interfaces.js';
import { KeyRing } from './store/key-ring.js';
import { KEY_VERSION_SETTING, KeyRotation } from './store/key-rotation.js';
import { loadMasterKeys } from './store/master-key.js';
import { BatchPurger, PURGE_WINDOW, ReplayPurger, type PurgeSummary } from './store/replay-purger.js';
import type { OutputKey } from './store/interfaces.js';
import type { RunOutputKeys } from './outputs/run-output-keys.js';
import { SYSTEM_CLOCK, type Clock } from './exchange/clock.js';
import { SecretVault } from './store/secret-vault.js';
import { openPostgresStores } from './postgres/open-postgres-stores.js';
import { openSqliteStores } from './sqlite/open-sqlite-stores.js';
import { BROKER_VERSION } from './version.js';
import { limitConnectionsPerAddress } from './http/connection-limit.js';
import { mountDashboard } from './ui/dashboard.js';
import { dashboardHeadersBeforeRouting } from './ui/security-headers.js';
import { ReloadStatus } from './ui/reload-status.js';

export const DATABASE_FILE = 'broker.db';
/** Request headers above 16 KiB are refused by Node itself (431). */
/**
 * Slow or stalled clients are cut off instead of holding connections open. The timeouts are given at creation,
 * with a check every second: set later, Node enforces them only on its 30 s sweep.
 */
const SERVER_LIMITS = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
};
/** Open connections one replica serves at once; more are refused at accept. */
const MAX_CONNECTIONS = 4096;
/** Open connections one client address (IPv6: one /64) may hold; a trusted proxy is not limited. */
const MAX_CONNECTIONS_PER_ADDRESS = 256;
const REPLAY_PURGE_INTERVAL_MS = 10 * 60_000;
const OUTPUT_PURGE_INTERVAL_MS = 5 * 60_000;
/** How often a replica reads the run-output keys again (another replica may have rotated or dropped them). */
const OUTPUT_KEY_REFRESH_INTERVAL_MS = 60_000;

export interface StartOptions extends ServiceOptions {
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** How often the audit chain's head is written to the log. */
  readonly auditHeadIntervalMs?: number;
}

export interface RunningBroker {
  readonly url: string;
  readonly port: number;
  /** Set only on the very first start without SECRETS_BROKER_BOOTSTRAP_TOKEN: shown once, never stored in clear. */
  readonly bootstrapToken: string | undefined;
  readonly generatedKeyFile: string | undefined;
  readonly stores: Stores;
  readonly vault: SecretVault;
  readonly policy: PolicyHolder;
  readonly auditLog: AuditLog;
  readonly auditChainKeys: AuditChainKeys;
  /** What SIGHUP does: reload the policy file now. */
  reloadPolicy(): Promise<ReloadResult>;
  /** Logs the audit chain's head now, as the timer does; returns it (undefined for an empty log). */
  publishAuditHead(): Promise<ChainHead | undefined>;
  /** Purges expired used tokens now, as the timer does; undefined when one is running or it failed (logged). */
  purgeUsedTokens(): Promise<PurgeSummary | undefined>;
  /** Purges expired run outputs now (by the broker's clock), as the timer does; undefined as purgeUsedTokens. */
  purgeExpiredOutputs(): Promise<PurgeSummary | undefined>;
  /** The run-output key pairs this replica holds. */
  readonly outputKeys: RunOutputKeys;
  /** Writes the aggregate records of refused admin authentications now, as the timer and close() do. */
  flushAdminAuthFailures(): Promise<void>;
  close(): Promise<void>;
}

// A little over 60 lines: the steps in start order, and the one cleanup that undoes what started when one fails.
export async function startBroker(config: BrokerConfig, options: StartOptions): Promise<RunningBroker> {
  const { logger } = options;
  if (config.adminToken !== undefined) {
    AdminCredentials.validateEnvironmentToken(
      config.adminToken,
      config.adminTokenVariable ?? BOOTSTRAP_TOKEN_VARIABLE,
    );
  }
  const policy = new PolicyHolder(await loadPolicyFile(config.policyFile));
  const { stores, location } = await openStores(config);
  let stopServices: (() => Promise<void>) | undefined;
  let closeServer: (() => void) | undefined;
  try {
    const keys = await openKeys(config, options, stores, location);
    logAdminTokenSource(config, logger);
    const bootstrapToken = await bootstrapOwnerToken(stores, config.adminToken !== undefined);
    const services = await createServices(config, options, policy, stores, keys);
    stopServices = () => {
      services.verifier.stop();
      return services.sealer.close();
    };
    const reloads = new ReloadStatus();
    if (config.ui === true)
      serveDashboard(services, stores, keys, policy, reloads, logger, options.clock ?? SYSTEM_CLOCK);
    const listening = await listen(config, services.app, services.trustedProxies);
    closeServer = () => listening.closeNow();
    const background = await startBackgroundWork(config, options, policy, stores, services, reloads);

    logger.info(
      {
        url: listening.url,
        policy: config.policyFile,
        rules: policy.current.rules.length,
        data_dir: config.dataDir,
        version: BROKER_VERSION,
      },
      'secrets-broker listening',
    );
    return {
      url: listening.url,
      port: listening.port,
      bootstrapToken,
      generatedKeyFile: keys.generatedFile,
      stores,
      vault: services.vault,
      policy,
      auditLog: services.audit,
      auditChainKeys: services.chainKeys,
      reloadPolicy: () => background.reloader.reload(true),
      publishAuditHead: () => background.headPublisher.publish(),
      purgeUsedTokens: () => background.purger.purgeLogged(),
      purgeExpiredOutputs: () => background.outputPurger.purgeLogged(),
      outputKeys: services.outputKeys,
      flushAdminAuthFailures: () => services.admin.flushAuthFailures(),
      close: async () => {
        await background.stop();
        services.verifier.stop();
        await listening.close();
        await services.sealer.close();
        // What is still counted is written, and the last head is published, before the store closes.
        await services.admin.flushAuthFailures();
        await background.headPublisher.publishLogged();
        await stores.close();
      },
    };
  } catch (error) {
    // Nothing started keeps running: a CLI that reports this error must be able to exit.
    closeServer?.();
    await stopServices?.();
    await stores.close();
    throw error;
  }
}

/** The configured database: PostgreSQL when a URL is given, else SQLite in the data directory. */
async function openStores(config: BrokerConfig): Promise<{ stores: Stores; location: string }> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  if (config.databaseUrl !== undefined) {
    return { stores: await openPostgresStores(config.databaseUrl), location: 'the PostgreSQL database' };
  }
  const databaseFile = config.databaseFile ?? join(config.dataDir, DATABASE_FILE);
  return { stores: openSqliteStores(databaseFile), location: databaseFile };
}

interface OpenKeys extends ServiceKeys {
  readonly generatedFile: string | undefined;
}

/** The master keys (never generated next to a used database), and the vault that reads with them. */
async function openKeys(
  config: BrokerConfig,
  options: StartOptions,
  stores: Stores,
  location: string,
): Promise<OpenKeys> {
  const keys = await loadMasterKeys(options.environment, config.dataDir, () =>
    describeStoredData(stores, location),
  );
  if (keys.generatedFile !== undefined) {
    options.logger.warn(
      { key_file: keys.generatedFile },
      `no SECRETS_BROKER_MASTER_KEY set: using the ${keys.generatedNow ? 'newly generated' : 'generated'} key in ${keys.generatedFile}; fine for one machine, set SECRETS_BROKER_MASTER_KEY(_FILE) in production`,
    );
  }
  const keyRing = new KeyRing(
    keys.current,
    keys.old === undefined ? [] : [keys.old],
    await KeyRotation.storedVersion(stores.meta),
  );
  const vault = new SecretVault(stores.secrets, keyRing);
  await vault.assertKeysAvailable();
  return { current: keys.current, old: keys.old, generatedFile: keys.generatedFile, keyRing, vault };
}

interface Listening {
  readonly url: string;
  readonly port: number;
  /** Stops accepting and waits until the server has closed. */
  close(): Promise<void>;
  /** Stops accepting and drops every connection, without waiting (a start that failed). */
  closeNow(): void;
}

/** Serves `app` on the configured address (TLS when configured), with the connection limits. */
async function listen(
  config: BrokerConfig,
  app: ReturnType<typeof createApp>,
  trustedProxies: BlockList | undefined,
): Promise<Listening> {
  const tls =
    config.tls === undefined
      ? undefined
      : { cert: await readFile(config.tls.certFile), key: await readFile(config.tls.keyFile) };
  const server = await new Promise<ReturnType<typeof serve>>((resolvePromise, reject) => {
    const started = serve(
      {
        fetch: app.fetch,
        hostname: config.host,
        port: config.port,
        ...(tls === undefined
          ? { serverOptions: SERVER_LIMITS }
          : { createServer: createHttpsServer, serverOptions: { ...SERVER_LIMITS, ...tls } }),
      },
      () => resolvePromise(started),
    );
    started.once('error', reject);
  });
  const dropConnections = () => {
    if ('closeAllConnections' in server) server.closeAllConnections();
  };
  server.maxConnections = MAX_CONNECTIONS;
  if (config.ui === true) server.prependListener('request', dashboardHeadersBeforeRouting);
  limitConnectionsPerAddress(server as unknown as NetServer, MAX_CONNECTIONS_PER_ADDRESS, trustedProxies);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        dropConnections();
      }),
    closeNow: () => {
      server.close();
      dropConnections();
    },
  };
}

interface BackgroundWork {
  readonly reloader: PolicyReloader;
  readonly headPublisher: ChainHeadPublisher;
  readonly purger: ReplayPurger;
  readonly outputPurger: BatchPurger<OutputKey>;
  /**
   * Stops the reloader and the timers, and waits for a running purge to end after its current batch (the
   * publisher's last head is written by close).
   */
  stop(): Promise<void>;
}

/** Policy reloads, the purge of used tokens, admin failure summaries and published chain heads. */
async function startBackgroundWork(
  config: BrokerConfig,
  options: StartOptions,
  policy: PolicyHolder,
  stores: Stores,
  services: Services,
  reloads: ReloadStatus,
): Promise<BackgroundWork> {
  const { logger } = options;
  const { metrics, verifier, admin } = services;
  const reloader = new PolicyReloader(
    config.policyFile,
    (reloaded) => {
      policy.replace(reloaded);
      verifier.track(reloaded);
      metrics.policyRules.set(reloaded.rules.length);
    },
    (result) => {
      reloads.record(result);
      if (result.ok && !result.changed) return;
      metrics.policyReloads.inc({ result: result.ok ? 'applied' : 'refused' });
      metrics.policyReloadOk.set(result.ok ? 1 : 0);
    },
    logger,
  );
  await reloader.start(policy.current);

  const purger = new ReplayPurger(stores.replay, logger);
  purger.start(REPLAY_PURGE_INTERVAL_MS);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const outputPurger = new BatchPurger<OutputKey>(stores.outputs, logger, PURGE_WINDOW, 'run outputs', () =>
    Math.floor(clock.now().getTime() / 1000),
  );
  outputPurger.start(OUTPUT_PURGE_INTERVAL_MS);
  const keyRefreshTimer = setInterval(() => {
    services.outputKeys.refresh().catch((error: unknown) => {
      logger.warn({ error: (error as Error).message }, 'reading the run-output keys again failed');
    });
  }, OUTPUT_KEY_REFRESH_INTERVAL_MS);
  keyRefreshTimer.unref();
  const authFailureTimer = setInterval(
    () => void admin.flushAuthFailures(),
    services.authLimits.summaryIntervalMs,
  );
  authFailureTimer.unref();
  const headPublisher = new ChainHeadPublisher(stores.audit, logger);
  try {
    await headPublisher.publishLogged();
    headPublisher.start(options.auditHeadIntervalMs ?? DEFAULT_HEAD_INTERVAL_MS);
  } catch (error) {
    reloader.stop();
    void purger.stop();
    void outputPurger.stop();
    clearInterval(authFailureTimer);
    clearInterval(keyRefreshTimer);
    throw error;
  }
  return {
    reloader,
    headPublisher,
    purger,
    outputPurger,
    stop: async () => {
      reloader.stop();
      clearInterval(authFailureTimer);
      clearInterval(keyRefreshTimer);
      headPublisher.stop();
      await purger.stop();
      await outputPurger.stop();
    },
  };
}

/** The read-only dashboard under /ui, over the services' read operations (--ui, SECRETS_BROKER_UI=true). */
function serveDashboard(
  services: Services,
  stores: Stores,
  keys: OpenKeys,
  policy: PolicyHolder,
  reloads: ReloadStatus,
  logger: Logger,
  clock: Clock,
): void {
  mountDashboard(services.app, {
    admin: services.admin,
    policy,
    masterKey: keys.current,
    audit: services.audit,
    auditHead: () => stores.audit.head(),
    auditPage: (afterSeq, limit) => stores.audit.page(afterSeq, limit),
    secretHistory: (name, limit) => services.vault.history(name, limit),
    verifier: services.verifier,
    stores,
    metrics: services.metrics,
    reloads,
    version: BROKER_VERSION,
    logger,
    now: () => clock.now().getTime(),
  });
  logger.info({ path: '/ui' }, 'the read-only dashboard is served under /ui');
}

/** What the database holds that was written with a master key, or undefined when it holds nothing. */
async function describeStoredData(stores: Stores, where: string): Promise<string | undefined> {
  const held = [
    (await stores.secrets.keyIdsInUse()).length > 0 ? 'encrypted secrets' : undefined,
    (await stores.adminTokens.count()) > 0 ? 'admin tokens' : undefined,
    (await stores.audit.head()) !== undefined ? 'audit records' : undefined,
    (await stores.meta.get(KEY_VERSION_SETTING)) !== undefined ? 'a key version' : undefined,
  ].filter((item) => item !== undefined);
  return held.length === 0 ? undefined : `${held.join(', ')} (in ${where})`;
}

/** Says where the server's owner token came from (never its value), and what is deprecated or ignored. */
function logAdminTokenSource(config: BrokerConfig, logger: Logger): void {
  if (config.issuedTokenIgnored === true) {
    logger.warn(
      { ignored: LEGACY_BOOTSTRAP_TOKEN_VARIABLE },
      `${LEGACY_BOOTSTRAP_TOKEN_VARIABLE} holds a token the broker issued (the admin CLI's): the server does not take it as an owner token, and the token keeps the role it was created with`,
    );
  }
  const variable = config.adminTokenVariable;
  if (variable === undefined) return;
  logger.info(
    { variable },
    `an owner token for the admin API is taken from ${variable}; it is valid while the variable is set and is never stored`,
  );
  if (variable === LEGACY_BOOTSTRAP_TOKEN_VARIABLE) {
    logger.warn(
      { variable },
      `${LEGACY_BOOTSTRAP_TOKEN_VARIABLE} as the server's owner token is deprecated: rename it to ${BOOTSTRAP_TOKEN_VARIABLE} for the server (the admin CLI keeps reading ${LEGACY_BOOTSTRAP_TOKEN_VARIABLE})`,
    );
  }
  if (config.adminTokenShadowed === true) {
    logger.warn(
      { variable, ignored: LEGACY_BOOTSTRAP_TOKEN_VARIABLE },
      `${BOOTSTRAP_TOKEN_VARIABLE} and ${LEGACY_BOOTSTRAP_TOKEN_VARIABLE} are both set, to different values: the server uses ${BOOTSTRAP_TOKEN_VARIABLE} and ignores ${LEGACY_BOOTSTRAP_TOKEN_VARIABLE} (the admin CLI's token)`,
    );
  }
}

/** On the first start without SECRETS_BROKER_BOOTSTRAP_TOKEN, creates the owner token that is printed once. */
async function bootstrapOwnerToken(
  stores: Stores,
  hasEnvironmentToken: boolean,
): Promise<string | undefined> {
  if (hasEnvironmentToken || (await stores.adminTokens.count()) > 0) return undefined;
  return (await createAdminToken(stores.adminTokens, 'bootstrap owner', 'owner')).token;
}
