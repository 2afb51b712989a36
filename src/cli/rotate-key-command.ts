import type { Command } from 'commander';
import { rotationBatchResponseSchema, rotationStatusResponseSchema } from '../protocol/admin-api.js';
import { printable } from '../protocol/printable.js';
import { AdminClient } from './admin-client.js';
import { CliError, writeLine } from './cli-error.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo, JsonOption } from './secret-commands.js';
import { exitTwoOnUsageErrors, wholeNumberFrom } from './usage-errors.js';

/** What a completed rotation prints with --json. */
interface RotationSummary {
  target_key_id: string;
  new_key_version: boolean;
  rewrapped: number;
  total: number;
  remaining: number;
}

export function registerRotateKeyCommand(program: Command, io: CommandIo): void {
  exitTwoOnUsageErrors(program.command('rotate-key'))
    .description(
      're-encrypt every stored secret version under the current master key (owner only; safe to stop and rerun)',
    )
    .option(
      '--batch-size <n>',
      'versions per batch (1 to 1000); each batch commits on its own',
      wholeNumberFrom(1, 1000),
      100,
    )
    .option(
      '--json',
      'print the result as JSON: {target_key_id, new_key_version, rewrapped, total, remaining}',
    )
    .action(async (options: { batchSize: number } & JsonOption) => {
      const size = options.batchSize;
      const client = new AdminClient(io.environment);
      const status = await client.request('POST', '/keys/rotate', rotationStatusResponseSchema);
      writeLine(
        io.stderr,
        status.new_key_version
          ? `every version was already under the current key: moving to a new key version, ${printable(status.target_key_id)}`
          : `re-encrypting under key id ${printable(status.target_key_id)}`,
      );
      let rewrapped = 0;
      let remaining = status.remaining;
      while (remaining > 0) {
        const batch = await client.request('POST', '/keys/rotate/batch', rotationBatchResponseSchema, {
          target_key_id: status.target_key_id,
          size,
        });
        if (batch.rewrapped === 0 && batch.remaining >= remaining) {
          throw new CliError(
            `no progress: ${batch.remaining} version(s) still not under ${printable(status.target_key_id)}`,
            'another rotation or writer may be running; run rotate-key again',
          );
        }
        rewrapped += batch.rewrapped;
        remaining = batch.remaining;
        writeLine(
          io.stderr,
          `re-encrypted ${batch.total - batch.remaining} of ${batch.total} (${batch.remaining} left)`,
        );
      }
      if (options.json === true) {
        const summary: RotationSummary = {
          target_key_id: status.target_key_id,
          new_key_version: status.new_key_version,
          rewrapped,
          total: status.total,
          remaining,
        };
        writeLine(io.stdout, terminalJson(summary, 2));
      } else {
        writeLine(
          io.stdout,
          `rotation complete: ${rewrapped} version(s) re-encrypted by this run, ${status.total} in all, every one under key id ${printable(status.target_key_id)}`,
        );
      }
      writeLine(
        io.stderr,
        'if SECRETS_BROKER_MASTER_KEY_OLD is set, it is no longer needed: remove it and restart the broker',
      );
    });
}
