import { Option, type Command } from 'commander';
import { ENVIRONMENT_TOKEN_ID, isAdminTokenId } from '../broker/admin/admin-credentials.js';
import {
  ADMIN_ROLES,
  tokenCreateResponseSchema,
  tokenListResponseSchema,
  tokenRevokeResponseSchema,
} from '../protocol/admin-api.js';
import { printable } from '../protocol/printable.js';
import { AdminClient, adminPath } from './admin-client.js';
import { writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo, JsonOption } from './secret-commands.js';
import { exitTwoOnUsageErrors, usageError } from './usage-errors.js';

export function registerTokenCommands(program: Command, io: CommandIo): void {
  const token = exitTwoOnUsageErrors(
    program.command('token').description('manage admin API tokens (owner only)'),
  );

  token
    .command('create')
    .argument('<label>', 'who or what the token is for')
    .addOption(
      new Option('--role <role>', 'what the token may do').choices(ADMIN_ROLES).makeOptionMandatory(),
    )
    .option('--json', 'print the result as JSON: {id, token, label, role, created_at}')
    .description('create a token; it is shown once and stored only as a hash')
    .action(async (label: string, options: { role: string } & JsonOption) => {
      const created = await new AdminClient(io.environment).request(
        'POST',
        '/tokens',
        tokenCreateResponseSchema,
        { label, role: options.role },
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(created, 2));
        return;
      }
      writeLine(
        io.stderr,
        `created token ${printable(created.id)} (${printable(created.role)}) for "${printable(label)}"; it is shown this once:`,
      );
      writeLine(io.stdout, printable(created.token));
    });

  token
    .command('list')
    .option('--json', 'print JSON: [{id, label, role, created_at, revoked_at}]')
    .description('list tokens: id, label, role, created, revoked (never the token)')
    .action(async (options: JsonOption) => {
      const { tokens } = await new AdminClient(io.environment).request(
        'GET',
        '/tokens',
        tokenListResponseSchema,
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(tokens, 2));
        return;
      }
      const rows = [
        ['ID', 'ROLE', 'LABEL', 'CREATED', 'REVOKED'],
        ...tokens.map((entry) => [
          entry.id,
          entry.role,
          entry.label,
          entry.created_at,
          entry.revoked_at ?? '-',
        ]),
      ];
      for (const line of formatTable(rows)) writeLine(io.stdout, line);
    });

  token
    .command('revoke')
    .argument('<id>', 'token id (from token list)')
    .description('revoke a token at once')
    .option('--json', 'print the result as JSON: {id, revoked}')
    .action(async (id: string, options: JsonOption) => {
      if (id !== ENVIRONMENT_TOKEN_ID && !isAdminTokenId(id)) {
        throw usageError(
          `"${printable(id)}" is not a token id; nothing was sent`,
          'an id is 16 hexadecimal digits, as "secrets-broker token list" shows it',
        );
      }
      const result = await new AdminClient(io.environment).request(
        'DELETE',
        adminPath('tokens', id),
        tokenRevokeResponseSchema,
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(result, 2));
        return;
      }
      writeLine(io.stdout, `revoked token ${printable(id)}`);
    });
}
