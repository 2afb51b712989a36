import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startBroker } from '../broker/broker.js';
import { createLogger } from '../broker/logger.js';
import { LocalIssuer, localWorkloadClaims } from '../dev/local-issuer.js';
import { printable } from '../protocol/printable.js';
import { CliError, writeLine } from './cli-error.js';
import type { CommandIo } from './secret-commands.js';

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
    if (equals < 1) throw new CliError(`--claim takes NAME=VALUE, not "${printable(pair)}"`);
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

/** The commands that run the bundled action as a runner would, against the dev broker. */
export function runnerCommands(brokerUrl: string, issuer: LocalIssuer, secrets: string): string[] {
  return [
    'export RUNNER_TEMP="$(mktemp -d)"',
    'touch "$RUNNER_TEMP/env" "$RUNNER_TEMP/output" "$RUNNER_TEMP/state" "$RUNNER_TEMP/summary"',
    `env 'INPUT_BROKER-URL=${brokerUrl}' 'INPUT_SECRETS=${secrets}' \\`,
    `  ACTIONS_ID_TOKEN_REQUEST_URL='${issuer.tokenRequestUrl}' ACTIONS_ID_TOKEN_REQUEST_TOKEN='${issuer.requestToken}' \\`,
    '  GITHUB_ENV="$RUNNER_TEMP/env" GITHUB_OUTPUT="$RUNNER_TEMP/output" GITHUB_STATE="$RUNNER_TEMP/state" \\',
    '  GITHUB_STEP_SUMMARY="$RUNNER_TEMP/summary" node dist/index.js',
    'cat "$RUNNER_TEMP/env"',
  ];
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
        throw new CliError('secrets-broker dev listens on loopback only (127.0.0.1, localhost or ::1)');
      }
      const claims = localWorkloadClaims(parseClaims(options.claim));
      const issuer = new LocalIssuer(claims);
      await issuer.start(options.host, Number(options.issuerPort));
      const workDir = await mkdtemp(join(tmpdir(), 'secrets-broker-dev-'));
      const brokerUrl = `http://${options.host === '::1' ? '[::1]' : options.host}:${options.port}`;
      const policyFile = join(workDir, 'policy.yaml');
      await writeFile(policyFile, devPolicy(brokerUrl, issuer.url));
      const adminToken = randomBytes(24).toString('hex');
      const environment = { SECRETS_BROKER_MASTER_KEY: randomBytes(32).toString('hex') };
      const broker = await startBroker(
        {
          policyFile,
          dataDir: workDir,
          databaseFile: ':memory:',
          databaseUrl: undefined,
          host: options.host,
          port: Number(options.port),
          adminToken,
        },
        { logger: createLogger(io.environment.SECRETS_BROKER_LOG_LEVEL ?? 'warn'), environment },
      );
      await broker.vault.put(DEMO_SECRET, 'hello from the secrets broker');

      const lines = [
        'secrets-broker dev: a local OIDC issuer and a broker with an in-memory store. Nothing is kept after Ctrl-C.',
        '',
        `  OIDC issuer  ${issuer.url}  (GitHub-shaped tokens: repository ${printable(String(claims.repository))}, ref ${printable(String(claims.ref))})`,
        `  broker       ${broker.url}  (policy ${policyFile})`,
        `  demo secret  ${DEMO_SECRET}`,
        `  admin        export SECRETS_BROKER_URL=${broker.url} SECRETS_BROKER_ADMIN_TOKEN=${adminToken}`,
        '',
        'Run the action as a GitHub runner would, from this checkout, in another terminal:',
        '',
        ...runnerCommands(broker.url, issuer, DEMO_SECRET).map((line) => `  ${line}`),
        '',
      ];
      for (const line of lines) writeLine(io.stdout, line);

      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void broker
            .close()
            .then(() => issuer.stop())
            .then(() => rm(workDir, { recursive: true, force: true }))
            .then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
