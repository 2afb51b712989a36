import { resolve } from 'node:path';

type Environment = Readonly<Record<string, string | undefined>>;

export interface ServeOptions {
  readonly policy?: string;
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  readonly host?: string;
  readonly port?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly trustProxy?: string;
  readonly keyLegacyAudit?: boolean;
}

export interface BrokerConfig {
  readonly policyFile: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly adminToken: string | undefined;
  /** PEM files for native TLS; both or neither. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Proxies (IPs, CIDRs) whose X-Forwarded-For gives the client address. */
  readonly trustProxy?: string;
  /** Overrides DATA_DIR/broker.db; ":memory:" keeps everything in memory (secrets-broker dev). */
  readonly databaseFile?: string;
  /**
   * Key an audit log written before the chain was keyed, at this start. Without it such a log stops the broker:
   * a whole log rewritten without the key looks the same, so only an operator may vouch for it, once.
   */
  readonly keyLegacyAudit?: boolean;
}

export const DEFAULT_POLICY_FILE = 'examples/policy.yaml';
export const DEFAULT_DATA_DIR = '.secrets-broker';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Flags win over SECRETS_BROKER_* variables, which win over the embedded defaults. */
export function resolveBrokerConfig(options: ServeOptions, environment: Environment): BrokerConfig {
  const portText =
    nonEmpty(options.port) ?? nonEmpty(environment.SECRETS_BROKER_PORT) ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new ConfigError(
      `the port "${portText}" is not a number from 0 to 65535 (--port or SECRETS_BROKER_PORT)`,
    );
  }
  const databaseUrl = nonEmpty(options.databaseUrl) ?? nonEmpty(environment.SECRETS_BROKER_DATABASE_URL);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      'SECRETS_BROKER_DATABASE_URL / --database-url must be a postgres:// URL (postgres://user:password@host:5432/database); unset it for the embedded SQLite store',
    );
  }
  const tlsCert = nonEmpty(options.tlsCert) ?? nonEmpty(environment.SECRETS_BROKER_TLS_CERT);
  const tlsKey = nonEmpty(options.tlsKey) ?? nonEmpty(environment.SECRETS_BROKER_TLS_KEY);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(
      'TLS needs both --tls-cert and --tls-key (SECRETS_BROKER_TLS_CERT and SECRETS_BROKER_TLS_KEY)',
    );
  }
  const trustProxy = nonEmpty(options.trustProxy) ?? nonEmpty(environment.SECRETS_BROKER_TRUST_PROXY);
  return {
    ...(tlsCert !== undefined && tlsKey !== undefined
      ? { tls: { certFile: resolve(tlsCert), keyFile: resolve(tlsKey) } }
      : {}),
    ...(trustProxy === undefined ? {} : { trustProxy }),
    keyLegacyAudit: options.keyLegacyAudit === true || environment.SECRETS_BROKER_KEY_LEGACY_AUDIT === 'true',
    policyFile: resolve(
      nonEmpty(options.policy) ?? nonEmpty(environment.SECRETS_BROKER_POLICY) ?? DEFAULT_POLICY_FILE,
    ),
    dataDir: resolve(
      nonEmpty(options.dataDir) ?? nonEmpty(environment.SECRETS_BROKER_DATA_DIR) ?? DEFAULT_DATA_DIR,
    ),
    databaseUrl,
    host: nonEmpty(options.host) ?? nonEmpty(environment.SECRETS_BROKER_HOST) ?? DEFAULT_HOST,
    port,
    adminToken: nonEmpty(environment.SECRETS_BROKER_ADMIN_TOKEN),
  };
}
