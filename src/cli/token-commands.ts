import type { Command } from 'commander';
import { printable } from '../protocol/printable.js';
import { AdminClient } from './admin-client.js';
import { writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo } from './secret-commands.js';

interface TokenSummary {
  id: string;
  label: string;
  role: string;
  created_at: string;
  revoked_at: string | null;
}

export function registerTokenCommands(program: Command, io: CommandIo): void {
  const token = program.command('token').description('manage admin API tokens (owner only)');

  token
    .command('create')
    .argument('<label>', 'who or what the token is for')
    .requiredOption('--role <role>', 'owner, admin or auditor')
    .description('create a token; it is shown once and stored only as a hash')
    .action(async (label: string, options: { role: string }) => {
      const created = await new AdminClient(io.environment).request<{
        id: string;
        token: string;
        role: string;
      }>('POST', '/tokens', {
        label,
        role: options.role,
      });
      writeLine(
        io.stderr,
        `created token ${printable(created.id)} (${printable(created.role)}) for "${printable(label)}"; it is shown this once:`,
      );
      writeLine(io.stdout, printable(created.token));
    });

  token
    .command('list')
    .option('--json', 'print JSON')
    .description('list tokens: id, label, role, created, revoked (never the token)')
    .action(async (options: { json?: boolean }) => {
      const { tokens } = await new AdminClient(io.environment).request<{ tokens: TokenSummary[] }>(
        'GET',
        '/tokens',
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
    .action(async (id: string) => {
      await new AdminClient(io.environment).request('DELETE', `/tokens/${encodeURIComponent(id)}`);
      writeLine(io.stdout, `revoked token ${printable(id)}`);
    });
}
