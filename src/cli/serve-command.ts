import type { Command } from 'commander';
import { startBroker } from '../broker/broker.js';
import { resolveBrokerConfig, type ServeOptions } from '../broker/config.js';
import { createCommandLogger } from '../broker/logger.js';
import { PolicyError } from '../broker/policy/load-policy.js';
import { printable } from '../protocol/printable.js';
import { CliError, writeLine } from './cli-error.js';
import type { CommandIo } from './secret-commands.js';

/** A server that could not listen, said as what to do: the port is taken, or needs privileges. */
export function listenFailure(
  error: unknown,
  host: string,
  port: number,
  option: string,
): CliError | undefined {
  const where = `port ${port} on ${printable(host)}`;
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new CliError(`${where} is in use; choose another with ${option}`);
    case 'EACCES':
      return new CliError(
        `${where} needs privileges this process does not have; choose a port above 1023 with ${option}`,
      );
    case 'EADDRNOTAVAIL':
      return new CliError(
        `${printable(host)} is not an address of this machine; choose one it has with --host`,
      );
    default:
      return undefined;
  }
}

export function registerServeCommand(program: Command, io: CommandIo): void {
  program
    .command('serve')
    .description('run the broker')
    .option('--policy <file>', 'policy YAML (SECRETS_BROKER_POLICY; default examples/policy.yaml)')
    .option(
      '--data-dir <dir>',
      'embedded database and generated key (SECRETS_BROKER_DATA_DIR; default ./.secrets-broker)',
    )
    .option('--database-url <url>', 'shared database (SECRETS_BROKER_DATABASE_URL)')
    .option('--host <host>', 'address to listen on (SECRETS_BROKER_HOST; default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (SECRETS_BROKER_PORT; default 8080)')
    .option('--tls-cert <file>', 'PEM certificate (chain) for HTTPS (SECRETS_BROKER_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key for HTTPS (SECRETS_BROKER_TLS_KEY)')
    .option(
      '--trust-proxy <list>',
      'proxies whose X-Forwarded-For gives the client address: IPs and CIDRs, comma-separated (SECRETS_BROKER_TRUST_PROXY)',
    )
    .option(
      '--key-legacy-audit',
      'this start only: key an audit log written before the chain was keyed, after you checked it (SECRETS_BROKER_KEY_LEGACY_AUDIT=true)',
    )
    .option(
      '--ui',
      'serve the read-only dashboard under /ui, signed in with an admin token (SECRETS_BROKER_UI=true); serve it over HTTPS',
    )
    .action(async (options: ServeOptions) => {
      let broker;
      let logger;
      let config;
      try {
        config = resolveBrokerConfig(options, io.environment);
        logger = createCommandLogger(io.environment, 'info');
        broker = await startBroker(config, { logger, environment: io.environment });
      } catch (error) {
        if (error instanceof PolicyError)
          throw new CliError(
            `the policy is not valid:\n${error.message}`,
            'fix it, then check it with "secrets-broker policy check FILE"',
          );
        const listening =
          config === undefined ? undefined : listenFailure(error, config.host, config.port, '--port');
        if (listening !== undefined) throw listening;
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new CliError(
            (error as Error).message,
            'check the paths of --policy, --tls-cert and --tls-key',
          );
        }
        throw error;
      }
      if (broker.bootstrapToken !== undefined) {
        writeLine(io.stderr, '');
        writeLine(
          io.stderr,
          'First start: an owner token for the admin API was created. It is shown this once and stored only as a hash.',
        );
        writeLine(io.stderr, 'Give it to the admin CLI (secrets-broker secret|token|audit|policy ...) with:');
        writeLine(io.stderr, `  export SECRETS_BROKER_ADMIN_TOKEN=${broker.bootstrapToken}`);
        writeLine(
          io.stderr,
          'To give the server a fixed owner token instead, set SECRETS_BROKER_BOOTSTRAP_TOKEN where it starts.',
        );
        writeLine(io.stderr, '');
      }
      const running = broker;
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info({ signal }, 'shutting down');
          void running.close().then(resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
