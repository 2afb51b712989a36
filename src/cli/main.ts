import { Command, CommanderError } from 'commander';
import { BROKER_VERSION } from '../broker/version.js';
import { printableLines } from '../protocol/printable.js';
import { registerAuditCommands } from './audit-commands.js';
import { reportFailure } from './cli-error.js';
import { registerDevCommand } from './dev-command.js';
import { registerOutputKeyCommands } from './output-key-command.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerSecretCommands, type CommandIo } from './secret-commands.js';
import { registerRotateKeyCommand } from './rotate-key-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerTokenCommands } from './token-commands.js';
import { exitTwoOnUsageErrors } from './usage-errors.js';

export function buildProgram(io: CommandIo): Command {
  const program = new Command('secrets-broker')
    .description('Releases secrets to CI jobs that prove who they are with an OIDC ID token')
    .version(BROKER_VERSION)
    .configureOutput({
      // Commander quotes what was typed ("unknown option '...'"): escaped like every other output.
      writeOut: (text) => io.stdout.write(printableLines(text)),
      writeErr: (text) => io.stderr.write(printableLines(text)),
    });
  // Before the commands are added, so that they inherit it: a command used wrongly exits 2, as getopt tools do.
  exitTwoOnUsageErrors(program);
  registerServeCommand(program, io);
  registerDevCommand(program, io);
  registerSecretCommands(program, io);
  registerPolicyCommands(program, io);
  registerTokenCommands(program, io);
  registerAuditCommands(program, io);
  registerRotateKeyCommand(program, io);
  registerOutputKeyCommands(program, io);
  return program;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return reportFailure(io.stderr, error);
  }
}
