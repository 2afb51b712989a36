import { CodedError } from '../protocol/coded-error.js';
import { resolve } from 'node:path';
import { printable } from '../protocol/printable.js';
import { isIssuedAdminToken } from './admin/admin-credentials.js';

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
  readonly ui?: boolean;
}

export interface BrokerConfig {
  readonly policyFile: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly host: string;
  readonly port: number;
  /** An owner token valid while it is configured, never stored (SECRETS_BROKER_BOOTSTRAP_TOKEN). */
  readonly adminToken: string | undefined;
  /** The variable adminToken came from, for the log (never the value); undefined when set in code (dev). */
  readonly adminTokenVariable?: BootstrapTokenVariable;
  /** True when SECRETS_BROKER_ADMIN_TOKEN was set too, to another value, and the server ignored it. */
  readonly adminTokenShadowed?: boolean;
  /** True when SECRETS_BROKER_ADMIN_TOKEN held a token the broker issued (the CLI's), which the server ignored. */
  readonly issuedTokenIgnored?: boolean;
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
  /** Serve the read-only dashboard under /ui (--ui, SECRETS_BROKER_UI=true); off by default. */
  readonly ui?: boolean;
}

export const DEFAULT_POLICY_FILE = 'examples/policy.yaml';
export const DEFAULT_DATA_DIR = '.secrets-broker';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

export class ConfigError extends CodedError {
  override name = 'ConfigError';
  /** config_usage for a malformed command-line option (the CLI exits 2, as for other usage errors). */
  readonly code: 'config_invalid' | 'config_usage';
  constructor(
    message: string,
    /** True when a command-line option was malformed. */
    readonly usage = false,
  ) {
    super(message);
    this.code = usage ? 'config_usage' : 'config_invalid';
  }
}

export const BOOTSTRAP_TOKEN_VARIABLE = 'SECRETS_BROKER_BOOTSTRAP_TOKEN';
/** The CLI's variable, which the server also read before SECRETS_BROKER_BOOTSTRAP_TOKEN existed (deprecated). */
export const LEGACY_BOOTSTRAP_TOKEN_VARIABLE = 'SECRETS_BROKER_ADMIN_TOKEN';
export type BootstrapTokenVariable = typeof BOOTSTRAP_TOKEN_VARIABLE | typeof LEGACY_BOOTSTRAP_TOKEN_VARIABLE;

/**
 * The server's owner token from the environment: SECRETS_BROKER_BOOTSTRAP_TOKEN, else (deprecated)
 * SECRETS_BROKER_ADMIN_TOKEN. With both set to different values the new variable wins: the old one is most
 * likely the token exported for the CLI in the same shell.
 */
export function bootstrapTokenFromEnvironment(
  environment: Environment,
): Pick<BrokerConfig, 'adminToken' | 'adminTokenVariable' | 'adminTokenShadowed' | 'issuedTokenIgnored'> {
  const bootstrap = nonEmpty(environment[BOOTSTRAP_TOKEN_VARIABLE]);
  const legacy = nonEmpty(environment[LEGACY_BOOTSTRAP_TOKEN_VARIABLE]);
  if (bootstrap !== undefined) {
    return {
      adminToken: bootstrap,
      adminTokenVariable: BOOTSTRAP_TOKEN_VARIABLE,
      adminTokenShadowed: legacy !== undefined && legacy !== bootstrap,
    };
  }
  // A token the broker issued, exported for the CLI in the same shell, must not become an owner token.
  if (legacy !== undefined && isIssuedAdminToken(legacy))
    return { adminToken: undefined, issuedTokenIgnored: true };
  if (legacy !== undefined)
    return { adminToken: legacy, adminTokenVariable: LEGACY_BOOTSTRAP_TOKEN_VARIABLE };
  return { adminToken: undefined };
}

/**
 * A TCP port: a whole number from 0 (any free port) to 65535. `source` names where the text came from;
 * `usage` marks a command-line option.
 */
export function parsePort(text: string, source: string, usage: boolean): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new ConfigError(
      `${source} "${printable(text)}" is not a port: give a whole number from 0 to 65535 (0 picks a free one)`,
      usage,
    );
  }
  return Number(text);
}

/** SECRETS_BROKER_UI: "true" or "false" (or unset); anything else is refused rather than guessed. */
export function parseUiVariable(text: string | undefined): boolean {
  if (text === undefined || text === '' || text === 'false') return false;
  if (text === 'true') return true;
  throw new ConfigError(
    `SECRETS_BROKER_UI "${printable(text)}" is not true or false: set it to true to serve the dashboard under /ui, or unset it`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Flags win over SECRETS_BROKER_* variables, which win over the embedded defaults. */
export function resolveBrokerConfig(options: ServeOptions, environment: Environment): BrokerConfig {
  const portOption = nonEmpty(options.port);
  const portVariable = nonEmpty(environment.SECRETS_BROKER_PORT);
  const port =
    portOption !== undefined
      ? parsePort(portOption, '--port', true)
      : portVariable !== undefined
        ? parsePort(portVariable, 'SECRETS_BROKER_PORT', false)
        : DEFAULT_PORT;
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
    ui: options.ui === true || parseUiVariable(environment.SECRETS_BROKER_UI),
    policyFile: resolve(
      nonEmpty(options.policy) ?? nonEmpty(environment.SECRETS_BROKER_POLICY) ?? DEFAULT_POLICY_FILE,
    ),
    dataDir: resolve(
      nonEmpty(options.dataDir) ?? nonEmpty(environment.SECRETS_BROKER_DATA_DIR) ?? DEFAULT_DATA_DIR,
    ),
    databaseUrl,
    host: nonEmpty(options.host) ?? nonEmpty(environment.SECRETS_BROKER_HOST) ?? DEFAULT_HOST,
    port,
    ...bootstrapTokenFromEnvironment(environment),
  };
}
