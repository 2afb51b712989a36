import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { STATE_CREATED } from '../action/state.js';
import { startBroker, type RunningBroker } from '../broker/broker.js';
import { parsePort } from '../broker/config.js';
import { createCommandLogger } from '../broker/logger.js';
import { LocalIssuer, localWorkloadClaims } from '../dev/local-issuer.js';
import { printable } from '../protocol/printable.js';
import { writeLine } from './cli-error.js';
import type { CommandIo } from './secret-commands.js';
import { listenFailure } from './serve-command.js';
import { usageError } from './usage-errors.js';

interface DevOptions {
  readonly host: string;
  readonly port: string;
  readonly issuerPort: string;
  readonly claim: string[];
}

export const DEMO_SECRET = 'demo/GREETING';

function parseClaims(pairs: readonly string[]): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals < 1) throw usageError(`--claim takes NAME=VALUE, not "${printable(pair)}"`);
    claims[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return claims;
}

function devPolicy(audience: string, issuerUrl: string): string {
  return `# Written by secrets-broker dev: trusts only the local issuer.
version: 1
audience: ${audience}
issuers:
  local:
    url: ${issuerUrl}
rules:
  - name: local-demo
    issuer: local
    claims:
      repository: acme/demo
      ref: refs/heads/main
    secrets:
      - demo/**
`;
}

/** The secrets input of the printed commands: one variable and one file entry, so the post step has work. */
export const DEMO_ENTRIES: readonly string[] = [DEMO_SECRET, `GREETING_FILE=@${DEMO_SECRET}`];

/**
 * The commands that run the bundled action as a runner would, against the dev broker: the main step, then the
 * post step, which the runner gives the main step's saved state as STATE_<name> variables and which removes the
 * files the main step wrote. A state value is one line (JSON). `entries` are lines of the secrets input (shell-safe text: no quote characters).
 */
export function runnerCommands(brokerUrl: string, issuer: LocalIssuer, entries: readonly string[]): string[] {
  const secrets = entries.map((entry) => `'${entry}'`).join(' ');
  return [
    'export RUNNER_TEMP="$(mktemp -d)"',
    'touch "$RUNNER_TEMP/env" "$RUNNER_TEMP/output" "$RUNNER_TEMP/state" "$RUNNER_TEMP/summary"',
    `env 'INPUT_BROKER-URL=${brokerUrl}' "INPUT_SECRETS=$(printf '%s\\n' ${secrets})" \\`,
    `  ACTIONS_ID_TOKEN_REQUEST_URL='${issuer.tokenRequestUrl}' ACTIONS_ID_TOKEN_REQUEST_TOKEN='${issuer.requestToken}' \\`,
    '  GITHUB_ENV="$RUNNER_TEMP/env" GITHUB_OUTPUT="$RUNNER_TEMP/output" GITHUB_STATE="$RUNNER_TEMP/state" \\',
    '  GITHUB_STEP_SUMMARY="$RUNNER_TEMP/summary" node dist/index.js',
    'cat "$RUNNER_TEMP/env"',
    // The main step saves its state more than once; the runner passes the last value.
    `env STATE_${STATE_CREATED}="$(awk '/^${STATE_CREATED}<</ { getline; last = $0 } END { print last }' "$RUNNER_TEMP/state")" node dist/post.js`,
  ];
}

interface Started {
  readonly issuer: LocalIssuer;
  readonly workDir: string;
  readonly broker: RunningBroker;
}

/**
 * Starts the issuer, the work directory and the broker in that order, adding each one's undoing to `cleanups`
 * as soon as it exists, so a failure at any step leaves nothing behind.
 */
async function startDev(
  options: DevOptions,
  settings: { brokerPort: number; issuerPort: number; claims: Record<string, string>; adminToken: string },
  io: CommandIo,
  cleanups: (() => Promise<void>)[],
): Promise<Started> {
  const logger = createCommandLogger(io.environment, 'warn');
  const issuer = new LocalIssuer(settings.claims);
  try {
    await issuer.start(options.host, settings.issuerPort);
  } catch (error) {
    throw listenFailure(error, options.host, settings.issuerPort, '--issuer-port') ?? error;
  }
  cleanups.push(() => issuer.stop());
  const workDir = await mkdtemp(join(tmpdir(), 'secrets-broker-dev-'));
  cleanups.push(() => rm(workDir, { recursive: true, force: true }));
  const brokerUrl = `http://${options.host === '::1' ? '[::1]' : options.host}:${settings.brokerPort}`;
  const policyFile = join(workDir, 'policy.yaml');
  await writeFile(policyFile, devPolicy(brokerUrl, issuer.url));
  let broker: RunningBroker;
  try {
    broker = await startBroker(
      {
        policyFile,
        dataDir: workDir,
        databaseFile: ':memory:',
        databaseUrl: undefined,
        host: options.host,
        port: settings.brokerPort,
        adminToken: settings.adminToken,
      },
      { logger, environment: { SECRETS_BROKER_MASTER_KEY: randomBytes(32).toString('hex') } },
    );
  } catch (error) {
    throw listenFailure(error, options.host, settings.brokerPort, '--port') ?? error;
  }
  cleanups.push(() => broker.close());
  await broker.vault.put(DEMO_SECRET, 'hello from the secrets broker');
  return { issuer, workDir, broker };
}

/** Resolves at the first SIGINT or SIGTERM after the call; `dispose` removes the handlers. */
function stopSignal(): { received: Promise<void>; dispose: () => void } {
  let onSignal = (): void => undefined;
  const received = new Promise<void>((resolve) => (onSignal = resolve));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    received,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

export function registerDevCommand(program: Command, io: CommandIo): void {
  program
    .command('dev')
    .description(
      'run a local OIDC issuer and a broker with an in-memory store, to try the action on this machine',
    )
    .option('--host <host>', 'address for both servers (loopback only)', '127.0.0.1')
    .option('--port <port>', 'broker port', '8080')
    .option('--issuer-port <port>', 'local OIDC issuer port', '8081')
    .option(
      '--claim <name=value>',
      'set a claim of the tokens the local issuer mints (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .action(async (options: DevOptions) => {
      if (!['127.0.0.1', 'localhost', '::1'].includes(options.host)) {
        throw usageError('secrets-broker dev listens on loopback only (127.0.0.1, localhost or ::1)');
      }
      const settings = {
        brokerPort: parsePort(options.port, '--port', true),
        issuerPort: parsePort(options.issuerPort, '--issuer-port', true),
        claims: localWorkloadClaims(parseClaims(options.claim)),
        adminToken: randomBytes(24).toString('hex'),
      };

      // Signals are caught from here on: a Ctrl-C while starting still undoes what had started.
      const signal = stopSignal();
      const cleanups: (() => Promise<void>)[] = [];
      try {
        const started = await startDev(options, settings, io, cleanups);
        printWelcome(io, started, settings.claims, settings.adminToken);
        await signal.received;
      } finally {
        signal.dispose();
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      }
    });
}

function printWelcome(
  io: CommandIo,
  { issuer, broker, workDir }: Started,
  claims: Readonly<Record<string, string>>,
  adminToken: string,
): void {
  const lines = [
    'secrets-broker dev: a local OIDC issuer and a broker with an in-memory store. Nothing is kept after Ctrl-C.',
    '',
    `  OIDC issuer  ${issuer.url}  (GitHub-shaped tokens: repository ${printable(String(claims.repository))}, ref ${printable(String(claims.ref))})`,
    `  broker       ${broker.url}  (policy ${join(workDir, 'policy.yaml')})`,
    `  demo secret  ${DEMO_SECRET}`,
    `  admin        export SECRETS_BROKER_URL=${broker.url} SECRETS_BROKER_ADMIN_TOKEN=${adminToken}`,
    '',
    'Run the action as a GitHub runner would, from this checkout, in another terminal (its main step, then its post step):',
    '',
    ...runnerCommands(broker.url, issuer, DEMO_ENTRIES).map((line) => `  ${line}`),
    '',
  ];
  for (const line of lines) writeLine(io.stdout, line);
}
