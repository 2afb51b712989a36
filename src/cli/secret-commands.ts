import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import {
  secretDeleteResponseSchema,
  secretListResponseSchema,
  secretWriteResponseSchema,
} from '../protocol/admin-api.js';
import { printable } from '../protocol/printable.js';
import { secretNameProblem } from '../protocol/secret-names.js';
import { AdminClient, adminPath } from './admin-client.js';
import { CliError, writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import { terminalJson } from './terminal-json.js';
import { readSecretValue, type ValueIo, type ValueSourceOptions } from './read-secret-value.js';
import { exitTwoOnUsageErrors, usageError } from './usage-errors.js';

export interface JsonOption {
  readonly json?: boolean;
}

interface SetOptions extends ValueSourceOptions, JsonOption {
  readonly confirmFingerprint?: string;
  readonly dryRun?: boolean;
}

export interface CommandIo extends ValueIo {
  readonly stdout: NodeJS.WritableStream;
}

/** The admin API path of a secret, checked first: a name that is not a secret name never reaches a URL. */
function secretPath(name: string): string {
  const problem = secretNameProblem(name);
  if (problem !== undefined) {
    throw usageError(
      `"${printable(name)}" is not a valid secret name: ${printable(problem)}; nothing was sent`,
      'a secret name is segments of A-Z, a-z, 0-9, "_", "." and "-" joined by "/", e.g. prod/api/DB_PASSWORD',
    );
  }
  return adminPath('secrets', ...name.split('/'));
}

export function registerSecretCommands(program: Command, io: CommandIo): void {
  const secret = exitTwoOnUsageErrors(
    program.command('secret').description('store, list and delete secrets through the admin API'),
  );

  secret
    .command('set')
    .argument('<name>', 'secret name, e.g. prod/api/DB_PASSWORD')
    .description('store a new version of a secret (the value is never printed)')
    .option('--prompt', 'type the value at a hidden prompt (asked twice)')
    .option(
      '--from-stdin',
      'read the value from standard input (one final newline is dropped from a single line)',
    )
    .option('--from-file <file>', 'read the value from a file, byte for byte')
    .option('--from-env <var>', 'read the value from an environment variable')
    .option('--value <value>', 'the value itself (stays in shell history: avoid)')
    .option('--confirm-fingerprint <sha256hex>', "store only if the value's SHA-256 is this")
    .option('--dry-run', 'check everything and show what would be stored, store nothing')
    .option('--json', 'print the result as JSON: {name, version, bytes, sha256, dry_run}')
    .action(async (name: string, options: SetOptions) => {
      const path = secretPath(name);
      const value = await readSecretValue(options, io);
      const fingerprint = createHash('sha256').update(value, 'utf8').digest('hex');
      if (
        options.confirmFingerprint !== undefined &&
        options.confirmFingerprint.toLowerCase() !== fingerprint
      ) {
        throw new CliError(
          `the value's SHA-256 is ${fingerprint}, not the ${printable(options.confirmFingerprint)} you asked to confirm; nothing was stored`,
        );
      }
      const client = new AdminClient(io.environment);
      const result = await client.request('PUT', path, secretWriteResponseSchema, {
        value,
        dry_run: options.dryRun === true,
      });
      if (result.sha256 !== fingerprint) {
        throw new CliError(
          `the broker computed SHA-256 ${printable(result.sha256)} for what it received, not ${fingerprint}`,
        );
      }
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(result, 2));
        return;
      }
      const summary = `${printable(result.name)} version ${result.version} (${result.bytes} bytes, sha256 ${result.sha256})`;
      writeLine(
        io.stdout,
        result.dry_run ? `dry run: would set ${summary}; nothing was stored` : `set ${summary}`,
      );
    });

  secret
    .command('list')
    .argument('[prefix]', 'only names that start with this', '')
    .option('--json', 'print JSON: [{name, version, versions, updated_at}]')
    .description('list secret names and versions (never values)')
    .action(async (prefix: string, options: JsonOption) => {
      const { secrets } = await new AdminClient(io.environment).request(
        'GET',
        `/secrets?prefix=${encodeURIComponent(prefix)}`,
        secretListResponseSchema,
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(secrets, 2));
        return;
      }
      const rows = [
        ['NAME', 'VERSION', 'VERSIONS', 'UPDATED'],
        ...secrets.map((entry) => [
          entry.name,
          String(entry.version),
          String(entry.versions),
          entry.updated_at,
        ]),
      ];
      for (const line of formatTable(rows)) writeLine(io.stdout, line);
    });

  secret
    .command('delete')
    .argument('<name>', 'secret name')
    .description('delete every version of a secret')
    .option('--json', 'print the result as JSON: {name, deleted}')
    .action(async (name: string, options: JsonOption) => {
      const path = secretPath(name);
      const result = await new AdminClient(io.environment).request(
        'DELETE',
        path,
        secretDeleteResponseSchema,
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(result, 2));
        return;
      }
      writeLine(io.stdout, `deleted ${printable(name)} (every version)`);
    });
}
