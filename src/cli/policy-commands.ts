import type { Command } from 'commander';
import { loadPolicyFile, PolicyError } from '../broker/policy/load-policy.js';
import { CliError, writeLine } from './cli-error.js';
import type { CommandIo } from './secret-commands.js';

export function registerPolicyCommands(program: Command, io: CommandIo): void {
  const policy = program.command('policy').description('work with policy files');

  policy
    .command('check')
    .argument('<file>', 'policy YAML file')
    .description('validate a policy file; errors name the file, line and column')
    .action(async (file: string) => {
      try {
        const compiled = await loadPolicyFile(file);
        const issuers = [...compiled.issuers.values()]
          .map((issuer) => `${issuer.name} (${issuer.url})`)
          .join(', ');
        writeLine(
          io.stdout,
          `${file}: valid: audience ${compiled.audience}; ${compiled.issuers.size} issuer(s): ${issuers}; ${compiled.rules.length} rule(s)`,
        );
      } catch (error) {
        if (!(error instanceof PolicyError)) throw error;
        throw new CliError(`${file} is not a valid policy:\n${error.message}`);
      }
    });
}
