import type { Command } from 'commander';
import { outputKeyRotateResponseSchema, type OutputKeyRotateResponse } from '../protocol/admin-api.js';
import { printable } from '../protocol/printable.js';
import { AdminClient } from './admin-client.js';
import { writeLine } from './cli-error.js';
import type { CommandIo, JsonOption } from './secret-commands.js';
import { terminalJson } from './terminal-json.js';
import { exitTwoOnUsageErrors } from './usage-errors.js';

const JSON_SHAPE = '{key_id, public_key, rotated, kept_key_ids, dropped_key_ids, dropped_outputs}';

/** `rotate-output-key [--drop-old]` and `drop-old-output-keys`: the run-output key pairs (owner only). */
export function registerOutputKeyCommands(program: Command, io: CommandIo): void {
  exitTwoOnUsageErrors(program.command('rotate-output-key'))
    .description(
      'make a new run-output key pair current (owner only); jobs seal new outputs to it, outputs sealed to older pairs stay readable until those are dropped',
    )
    .option(
      '--drop-old',
      'then delete every older pair and the outputs sealed to them: they can never be read again (forward secrecy)',
    )
    .option('--json', `print the result as JSON: ${JSON_SHAPE}`)
    .action(async (options: { dropOld?: boolean } & JsonOption) => {
      const client = new AdminClient(io.environment);
      const answer = await client.request('POST', '/output-key/rotate', outputKeyRotateResponseSchema, {
        drop_old: options.dropOld === true,
      });
      report(io, answer, options.json === true);
    });

  exitTwoOnUsageErrors(program.command('drop-old-output-keys'))
    .description(
      'delete every run-output key pair but the current one, and the outputs sealed to them (owner only); they can never be read again',
    )
    .option('--json', `print the result as JSON: ${JSON_SHAPE}`)
    .action(async (options: JsonOption) => {
      const client = new AdminClient(io.environment);
      const answer = await client.request('POST', '/output-key/drop-old', outputKeyRotateResponseSchema);
      report(io, answer, options.json === true);
    });
}

function report(io: CommandIo, answer: OutputKeyRotateResponse, json: boolean): void {
  if (json) {
    writeLine(io.stdout, terminalJson(answer, 2));
    return;
  }
  const current = printable(answer.key_id);
  writeLine(
    io.stdout,
    answer.rotated ? `new current run-output key: ${current}` : `current run-output key: ${current}`,
  );
  if (answer.dropped_key_ids.length > 0)
    writeLine(
      io.stdout,
      `dropped ${answer.dropped_key_ids.map(printable).join(', ')} and ${answer.dropped_outputs} output(s) sealed to them`,
    );
  if (answer.kept_key_ids.length > 0)
    writeLine(
      io.stderr,
      `still kept: ${answer.kept_key_ids.map(printable).join(', ')}; outputs sealed to them stay readable until "secrets-broker drop-old-output-keys"`,
    );
}
