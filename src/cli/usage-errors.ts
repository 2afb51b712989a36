import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { CliError } from './cli-error.js';

/** The exit code of a command used wrongly (unknown option, value out of range, bad argument), as getopt tools use it. */
export const USAGE_EXIT_CODE = 2;

/** A usage error found after commander parsed the command line: one line, a hint, exit code 2. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, hint, USAGE_EXIT_CODE);
}

/**
 * Makes commander's refusals (unknown option, a value not among the choices, a missing argument or subcommand)
 * of `command` and of the subcommands added to it afterwards exit 2 instead of 1. Help and --version exit 0.
 */
export function exitTwoOnUsageErrors<T extends Command>(command: T): T {
  command.exitOverride((error) => {
    throw error.exitCode === 0 ? error : new CommanderError(USAGE_EXIT_CODE, error.code, error.message);
  });
  return command;
}

/** A commander option parser for a whole number from `min` to `max`; anything else is refused as usage. */
export function wholeNumberFrom(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^\d{1,10}$/.test(text) || value < min || value > max)
      throw new InvalidArgumentError(`It must be a whole number from ${min} to ${max}.`);
    return value;
  };
}
