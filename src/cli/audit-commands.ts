import type { Command } from 'commander';
import { parseDurationSeconds } from '../broker/policy/duration.js';
import { AdminClient } from './admin-client.js';
import { CliError, writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import type { CommandIo } from './secret-commands.js';

interface AuditOptions {
  since?: string;
  until?: string;
  kind?: string;
  outcome?: string;
  repository?: string;
  secret?: string;
  rule?: string;
  requestId?: string;
  after: string;
  limit: string;
  json?: boolean;
}

type AuditRow = Record<string, unknown> & { seq: number };

/** "24h", "7d", "90m" ago, or an ISO time as it is. */
export function resolveTime(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const days = /^(\d+)d$/.exec(text);
  const seconds = days !== null ? Number(days[1]) * 86_400 : parseDurationSeconds(text);
  if (seconds !== undefined && !/^\d+$/.test(text)) return new Date(now - seconds * 1000).toISOString();
  if (Number.isNaN(Date.parse(text)))
    throw new CliError(`"${text}" is neither a time (2026-11-22T10:00:00Z) nor a duration (90m, 24h, 7d)`);
  return text;
}

function describe(record: AuditRow): [string, string] {
  if (record.kind === 'admin') {
    return [
      String(record.admin_label ?? '-'),
      `${String(record.action)}${record.target === null ? '' : ` ${String(record.target)}`}`,
    ];
  }
  const released = (record.released as { name: string; version: number }[]).map(
    (entry) => `${entry.name}@v${entry.version}`,
  );
  const what = released.length > 0 ? released.join(' ') : `asked ${(record.requested as string[]).join(' ')}`;
  return [String(record.repository ?? record.sub ?? '-'), what];
}

export function registerAuditCommands(program: Command, io: CommandIo): void {
  const audit = program
    .command('audit')
    .description('query the audit log (newest filters first: see --help)')
    .option('--since <time>', 'from this time (ISO 8601) or this long ago (90m, 24h, 7d)')
    .option('--until <time>', 'before this time or this long ago')
    .option('--kind <kind>', 'exchange or admin')
    .option('--outcome <outcome>', 'allowed, denied or error')
    .option('--repository <repository>', 'GitHub repository or GitLab project path, e.g. acme/api')
    .option('--secret <name>', 'requested or released secret, or target of an admin call')
    .option('--rule <rule>', 'name of a rule that matched')
    .option('--request-id <id>', 'one request')
    .option('--after <seq>', 'records after this sequence number (paging)', '0')
    .option('--limit <n>', 'records in this page (at most 1000)', '100')
    .option('--json', 'one JSON record a line')
    .action(async (options: AuditOptions) => {
      const query = new URLSearchParams();
      const set = (name: string, value: string | undefined): void => {
        if (value !== undefined) query.set(name, value);
      };
      set('since', resolveTime(options.since));
      set('until', resolveTime(options.until));
      set('kind', options.kind);
      set('outcome', options.outcome);
      set('repository', options.repository);
      set('secret', options.secret);
      set('rule', options.rule);
      set('request_id', options.requestId);
      set('after', options.after);
      set('limit', options.limit);
      const page = await new AdminClient(io.environment).request<{
        records: AuditRow[];
        next_after: number | null;
      }>('GET', `/audit?${query.toString()}`);
      if (options.json === true) {
        for (const record of page.records) writeLine(io.stdout, JSON.stringify(record));
      } else {
        const rows = [
          ['SEQ', 'TIME', 'KIND', 'OUTCOME', 'CODE', 'WHO', 'WHAT'],
          ...page.records.map((record) => [
            String(record.seq),
            String(record.time),
            String(record.kind),
            String(record.outcome),
            String(record.code ?? '-'),
            ...describe(record),
          ]),
        ];
        for (const line of formatTable(rows)) writeLine(io.stdout, line);
      }
      if (page.next_after !== null)
        writeLine(io.stderr, `more records: run again with --after ${page.next_after}`);
    });

  audit
    .command('verify')
    .description('walk the hash chain and name the first broken record')
    .action(async () => {
      const result = await new AdminClient(io.environment).request<{
        ok: boolean;
        checked: number;
        problem?: { seq: number; reason: string };
      }>('GET', '/audit/verify');
      if (!result.ok)
        throw new CliError(
          `the audit chain is broken at record ${result.problem?.seq}: ${result.problem?.reason}`,
          'restore the audit log from a backup or your log store; records before it verified',
        );
      writeLine(io.stdout, `the audit chain is intact: ${result.checked} records verified`);
    });
}
