import { Option, type Command } from 'commander';
import { CHAIN_HEAD_EXAMPLE, parseChainHead } from '../broker/audit/audit-chain.js';
import { parseDuration } from '../protocol/duration.js';
import {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  auditPageResponseSchema,
  auditVerifyResponseSchema,
  DEFAULT_AUDIT_PAGE,
  MAX_AUDIT_PAGE,
  type AuditEntry,
  type AuditVerifyResponse,
} from '../protocol/admin-api.js';
import { printable } from '../protocol/printable.js';
import { AdminClient } from './admin-client.js';
import { CliError, writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo, JsonOption } from './secret-commands.js';
import { exitTwoOnUsageErrors, usageError, wholeNumberFrom } from './usage-errors.js';

interface AuditOptions {
  since?: string;
  until?: string;
  kind?: string;
  outcome?: string;
  repository?: string;
  secret?: string;
  rule?: string;
  requestId?: string;
  after: number;
  limit: number;
  json?: boolean;
}

/** "24h", "7d", "90m" ago, or an ISO time as it is. */
export function resolveTime(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const seconds = parseDuration(text);
  if (seconds !== undefined) return new Date(now - seconds * 1000).toISOString();
  if (Number.isNaN(Date.parse(text)))
    throw usageError(
      `"${printable(text)}" is neither a time (2026-11-22T10:00:00Z) nor a duration (90m, 24h, 7d)`,
    );
  return text;
}

function shown(value: unknown, missing = '-'): string {
  return value === null || value === undefined ? missing : String(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** `value[key]` when `value` is an object that has it: records of any age are read without assuming a shape. */
function fieldOf(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key)
    ? Reflect.get(value, key)
    : undefined;
}

/**
 * Who made an exchange. A token that did not verify proved nothing: what it claimed is shown marked. The broker
 * keeps such claims under `claimed` (older records kept them in the identity fields themselves).
 */
function exchangeWho(record: AuditEntry): string {
  if (record.token_verified !== false) return shown(record.repository ?? record.sub);
  const claimed = typeof record.claimed === 'object' && record.claimed !== null ? record.claimed : record;
  const name = fieldOf(claimed, 'repository') ?? fieldOf(claimed, 'sub');
  return name === null || name === undefined ? '(unverified)' : `(unverified) ${String(name)}`;
}

/** The WHO and WHAT cells; formatTable escapes them. */
function describe(record: AuditEntry): [string, string] {
  if (record.kind === 'admin') {
    const target = record.target === null || record.target === undefined ? '' : ` ${String(record.target)}`;
    // Refused admin authentications are audited in aggregate: say how many each record stands for.
    const count = fieldOf(record.detail, 'count');
    const refused =
      record.action === 'auth.failures' && count !== undefined ? ` (${shown(count)} refused)` : '';
    // The record a broker writes when it keys a chain from before the keyed chain.
    const unkeyed = fieldOf(record.detail, 'unkeyed_records');
    const keying =
      record.action === 'audit.chain_keyed' && unkeyed !== undefined
        ? ` (${shown(unkeyed)} records before were not keyed)`
        : '';
    return [shown(record.admin_label), `${shown(record.action)}${target}${refused}${keying}`];
  }
  const versions = (entries: unknown): string[] =>
    list(entries).map((entry) => `${shown(fieldOf(entry, 'name'))}@v${shown(fieldOf(entry, 'version'))}`);
  if (record.kind === 'list') {
    const listed = versions(record.listed);
    const more = Number(record.listed_count) - listed.length;
    return [
      exchangeWho(record),
      `listed ${shown(record.listed_count)}${listed.length > 0 ? `: ${listed.join(' ')}` : ''}${more > 0 ? ` and ${more} more` : ''}`,
    ];
  }
  const released = versions(record.released);
  const what =
    released.length > 0
      ? released.join(' ')
      : `asked ${list(record.requested)
          .map((entry) => shown(entry))
          .join(' ')}`;
  return [exchangeWho(record), what];
}

export function registerAuditCommands(program: Command, io: CommandIo): void {
  const audit = exitTwoOnUsageErrors(program.command('audit'))
    .description('query the audit log (newest filters first: see --help)')
    .option('--since <time>', 'from this time (ISO 8601) or this long ago (90m, 24h, 7d)')
    .option('--until <time>', 'before this time or this long ago')
    .addOption(new Option('--kind <kind>', 'what was recorded').choices(AUDIT_KINDS))
    .addOption(new Option('--outcome <outcome>', 'how it ended').choices(AUDIT_OUTCOMES))
    .option('--repository <repository>', 'GitHub repository or GitLab project path, e.g. acme/api')
    .option('--secret <name>', 'requested or released secret, or target of an admin call')
    .option('--rule <rule>', 'name of a rule that matched')
    .option('--request-id <id>', 'one request')
    .option(
      '--after <seq>',
      'records after this sequence number (paging)',
      wholeNumberFrom(0, 999_999_999),
      0,
    )
    .option(
      '--limit <n>',
      `records in this page (1 to ${MAX_AUDIT_PAGE})`,
      wholeNumberFrom(1, MAX_AUDIT_PAGE),
      DEFAULT_AUDIT_PAGE,
    )
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
      set('after', String(options.after));
      set('limit', String(options.limit));
      const page = await new AdminClient(io.environment).request(
        'GET',
        `/audit?${query.toString()}`,
        auditPageResponseSchema,
      );
      if (options.json === true) {
        for (const record of page.records) writeLine(io.stdout, terminalJson(record));
      } else {
        const rows = [
          ['SEQ', 'TIME', 'KIND', 'OUTCOME', 'CODE', 'WHO', 'WHAT'],
          ...page.records.map((record) => [
            shown(record.seq),
            shown(record.time),
            shown(record.kind),
            shown(record.outcome),
            shown(record.code),
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
    .description(
      'walk the keyed chain and name the first broken record; --head checks it still holds a head the broker logged',
    )
    .option(
      '--head <seq:hash>',
      "a chain head from the broker's log (audit_chain_head), e.g. 1234:hmac2:...; repeatable",
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option(
      '--json',
      'print the result as JSON: {ok, checked, keyed, hash_only, head, heads_matched, problem, ...}',
    )
    .action(async (options: { head: string[] } & JsonOption) => {
      // Commander gives "audit verify --json" to the parent, which takes --json too.
      const json = options.json === true || audit.opts<JsonOption>().json === true;
      const query = new URLSearchParams();
      for (const head of options.head) {
        if (parseChainHead(head) === undefined)
          throw usageError(
            `--head takes SEQ:HASH as the broker logs it (audit_chain_head), not "${printable(head)}"`,
            `for example ${CHAIN_HEAD_EXAMPLE}`,
          );
        query.append('head', head);
      }
      const result = await new AdminClient(io.environment).request(
        'GET',
        `/audit/verify${options.head.length === 0 ? '' : `?${query.toString()}`}`,
        auditVerifyResponseSchema,
      );
      // A script reads the answer on stdout either way; a broken chain still exits 1 with the error.
      if (json) writeLine(io.stdout, terminalJson(result, 2));
      if (!result.ok)
        throw new CliError(
          `the audit chain is broken at record ${shown(result.problem?.seq)}: ${printable(shown(result.problem?.reason))}`,
          'compare the database with a backup and with the audit_chain_head lines in your log store (--head) to find what was changed',
        );
      if (!json) for (const line of verificationLines(result)) writeLine(io.stdout, line);
      if (options.head.length === 0)
        writeLine(
          io.stderr,
          "hint: deleted newest records leave a valid chain; check against heads from the broker's log with --head SEQ:HASH",
        );
    });
}

function records(first: number, last: number): string {
  return first === last ? `record ${first} is` : `records ${first}-${last} are`;
}

/** What a passing verification proved, and what it could not. */
function verificationLines(result: AuditVerifyResponse): string[] {
  const hashOnly = result.hash_only ?? 0;
  const unconfigured = result.under_unconfigured_key ?? [];
  const keyed = result.keyed ?? result.checked;
  const lines = [
    hashOnly === 0 && unconfigured.length === 0
      ? `the audit chain is intact: ${result.checked} records verified with the chain key`
      : `the audit chain is intact: ${result.checked} records verified (${keyed} with the chain key, ${hashOnly} only hash-chained, ${result.checked - keyed - hashOnly} under a key not configured here)`,
  ];
  if (hashOnly > 0) {
    const keying = result.keyed_from;
    lines.push(
      `note: ${records(1, hashOnly)} only hash-chained (plain SHA-256, from before the chain was keyed); ${
        keying === undefined || keying === null
          ? 'the keyed records after them pin their content'
          : `record ${keying.seq}, written ${printable(shown(keying.time, 'at an unknown time'))} when a broker of this version first started on this database, keyed them and pins their content`
      }. A keying later than your upgrade means the chain was rewritten then: check against a head logged before it (--head).`,
    );
  }
  for (const range of unconfigured) {
    lines.push(
      `note: ${records(range.first, range.last)} under chain key ${printable(range.key)}${
        range.count === range.last - range.first + 1 ? '' : ` (${range.count} of them)`
      }, which is not configured here: their content is pinned by the keyed records after them, which a broker holding that key linked; set SECRETS_BROKER_MASTER_KEY_OLD to that master key to verify their keys too`,
    );
  }
  for (const seq of result.heads_matched ?? []) lines.push(`record ${seq} matches the published head`);
  lines.push(
    result.head === undefined || result.head === null
      ? 'head: none (the audit log is empty)'
      : `head: record ${result.head.seq} ${printable(result.head.hash)}`,
  );
  return lines;
}
