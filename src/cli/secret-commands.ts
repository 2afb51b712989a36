import { createHash } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { formatDuration, parseDuration } from '../protocol/duration.js';
import {
  isoDateTimeMs,
  MAX_CONDITION_COUNT,
  MAX_READ_PERIOD_SECONDS,
} from '../broker/admin/secret-conditions.js';
import {
  MAX_SECRET_DESCRIPTION,
  MAX_SECRET_OWNER,
  secretDeleteResponseSchema,
  secretListResponseSchema,
  secretRollbackResponseSchema,
  secretUpdateResponseSchema,
  secretVersionsResponseSchema,
  secretWriteResponseSchema,
  type SecretConditionsAnswer,
  type SecretConditionsChange,
  type SecretListing,
} from '../protocol/admin-api.js';
import { hasUnprintable, printable } from '../protocol/printable.js';
import { MAX_VERSION, secretNameProblem } from '../protocol/secret-names.js';
import { AdminClient, adminPath } from './admin-client.js';
import { CliError, writeLine } from './cli-error.js';
import { formatTable } from './format-table.js';
import { terminalJson } from './terminal-json.js';
import { readSecretValue, type ValueIo, type ValueSourceOptions } from './read-secret-value.js';
import { exitTwoOnUsageErrors, usageError, wholeNumberFrom } from './usage-errors.js';

export interface JsonOption {
  readonly json?: boolean;
}

/** A condition flag given as "none": commander turns a parser's null into "", so a marker says it instead. */
const CLEARED = Symbol('cleared');

/** The condition flags of `secret set` and `secret update`, parsed. */
interface ConditionOptions {
  readonly expires?: string | typeof CLEARED;
  readonly maxReads?: { readonly count: number; readonly period_seconds: number } | typeof CLEARED;
  readonly rotateAfterReads?: number | typeof CLEARED;
  readonly description?: string | typeof CLEARED;
  readonly owner?: string | typeof CLEARED;
}

interface SetOptions extends ValueSourceOptions, JsonOption, ConditionOptions {
  readonly confirmFingerprint?: string;
  readonly dryRun?: boolean;
}

interface DeleteOptions extends JsonOption {
  readonly purge?: boolean;
}

/** The word that clears a condition in `secret set` and `secret update`. */
const CLEAR = 'none';

/** "90s", "10m", "1h30m", "30d": seconds; a bare number (no unit) is not taken. */

const clearable =
  <T>(parse: (text: string) => T) =>
  (text: string): T | typeof CLEARED =>
    text === CLEAR ? CLEARED : parse(text);

/** `--expires`: an ISO 8601 date-time or a duration from now, in the future; "none" clears. */
function parseExpires(text: string): string {
  const seconds = parseDuration(text);
  const time = seconds !== undefined ? Date.now() + seconds * 1000 : isoDateTimeMs(text);
  if (time === undefined || !Number.isFinite(time) || Number.isNaN(new Date(time).getTime())) {
    throw new InvalidArgumentError(
      `It must be an ISO 8601 date-time such as 2026-12-31T23:59:00Z, a duration from now such as 90s, 10m, 1h or 30d, or "${CLEAR}".`,
    );
  }
  if (time <= Date.now()) throw new InvalidArgumentError('It must be in the future.');
  return new Date(time).toISOString();
}

/** `--max-reads N/PERIOD`, e.g. 100/1d. */
function parseMaxReads(text: string): { count: number; period_seconds: number } {
  const slash = text.indexOf('/');
  const count = Number(text.slice(0, slash));
  const period = parseDuration(text.slice(slash + 1));
  if (
    slash < 1 ||
    !/^\d{1,10}$/.test(text.slice(0, slash)) ||
    count < 1 ||
    count > MAX_CONDITION_COUNT ||
    period === undefined ||
    period < 1 ||
    period > MAX_READ_PERIOD_SECONDS
  ) {
    throw new InvalidArgumentError(
      `It must be N/PERIOD: N reads from 1 to ${MAX_CONDITION_COUNT} per PERIOD from 1s to ${formatDuration(MAX_READ_PERIOD_SECONDS)} (90s, 10m, 1h, 30d), e.g. 100/1d, or "${CLEAR}".`,
    );
  }
  return { count, period_seconds: period };
}

function freeText(max: number): (text: string) => string {
  return (text) => {
    if (text.trim() === '' || text.length > max || hasUnprintable(text))
      throw new InvalidArgumentError(
        `It must be 1 to ${max} printable characters on one line, or "${CLEAR}".`,
      );
    return text;
  };
}

/** Adds the condition flags to `command` (set or update). */
function conditionOptions(command: Command): Command {
  return command
    .option(
      '--expires <when>',
      `not released after this: ISO 8601 date-time or duration from now (90s, 10m, 1h, 30d); "${CLEAR}" clears`,
      clearable(parseExpires),
    )
    .option(
      '--max-reads <N/PERIOD>',
      `read budget: at most N releases per fixed window of PERIOD, e.g. 100/1d; "${CLEAR}" clears`,
      clearable(parseMaxReads),
    )
    .option(
      '--rotate-after-reads <N>',
      `refuse a version after N releases of it (each version counted on its own) until a new version is stored; "${CLEAR}" clears`,
      clearable(wholeNumberFrom(1, MAX_CONDITION_COUNT)),
    )
    .option(
      '--description <text>',
      `free text shown in listings and the audit; "${CLEAR}" clears`,
      clearable(freeText(MAX_SECRET_DESCRIPTION)),
    )
    .option(
      '--owner <text>',
      `who answers for the secret (free text); "${CLEAR}" clears`,
      clearable(freeText(MAX_SECRET_OWNER)),
    );
}

/** The conditions the flags change, as the admin API takes them (null clears); undefined when none was given. */
function conditionsChange(options: ConditionOptions): SecretConditionsChange | undefined {
  const given = <T>(key: string, value: T | typeof CLEARED | undefined) =>
    value === undefined ? {} : { [key]: value === CLEARED ? null : value };
  const change: SecretConditionsChange = {
    ...given('expires_at', options.expires),
    ...given('max_reads', options.maxReads),
    ...given('rotate_after_reads', options.rotateAfterReads),
    ...given('description', options.description),
    ...given('owner', options.owner),
  };
  return Object.keys(change).length === 0 ? undefined : change;
}

/**
 * "expires 2026-…, max reads 100/1d, …": what a change sets or clears ("none"), or the conditions stored (where
 * null is a condition not set, left out).
 */
function describeConditions(
  conditions: SecretConditionsChange | SecretConditionsAnswer,
  stored = false,
): string {
  const parts: string[] = [];
  const note = (label: string, value: string | number | null | undefined) => {
    if (value === undefined || (stored && value === null)) return;
    parts.push(`${label} ${value === null ? CLEAR : printable(String(value))}`);
  };
  note('expires', conditions.expires_at);
  note(
    'max reads',
    conditions.max_reads &&
      `${conditions.max_reads.count}/${formatDuration(conditions.max_reads.period_seconds)}`,
  );
  note('rotate after reads', conditions.rotate_after_reads);
  note('owner', conditions.owner);
  note('description', conditions.description);
  return parts.join(', ');
}

/** What an exchange would now refuse the secret for, or "ok". */
function status(entry: SecretListing): string {
  const refused = [
    entry.expired ? 'expired' : undefined,
    entry.budget_exhausted ? 'budget exhausted' : undefined,
    entry.rotation_required ? 'rotation required' : undefined,
  ].filter((reason) => reason !== undefined);
  return refused.length === 0 ? 'ok' : refused.join(', ');
}

export interface CommandIo extends ValueIo {
  readonly stdout: NodeJS.WritableStream;
}

/**
 * The admin API path of a secret under `route`, checked first: a name that is not a secret name never reaches a
 * URL.
 */
function secretPath(name: string, route: 'secrets' | 'versions' | 'rollback' = 'secrets'): string {
  const problem = secretNameProblem(name);
  if (problem !== undefined) {
    throw usageError(
      `"${printable(name)}" is not a valid secret name: ${printable(problem)}; nothing was sent`,
      'a secret name is segments of A-Z, a-z, 0-9, "_", "." and "-" joined by "/", e.g. prod/api/DB_PASSWORD',
    );
  }
  return adminPath(route, ...name.split('/'));
}

export function registerSecretCommands(program: Command, io: CommandIo): void {
  const secret = exitTwoOnUsageErrors(
    program.command('secret').description('store, list and delete secrets through the admin API'),
  );

  const set = secret
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
    .option('--json', 'print the result as JSON: {name, version, bytes, sha256, dry_run}');
  conditionOptions(set).action(async (name: string, options: SetOptions) => {
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
    const conditions = conditionsChange(options);
    const result = await client.request('PUT', path, secretWriteResponseSchema, {
      value,
      dry_run: options.dryRun === true,
      ...(conditions === undefined ? {} : { conditions }),
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
    const changed = conditions === undefined ? '' : `; ${describeConditions(conditions)}`;
    const summary = `${printable(result.name)} version ${result.version} (${result.bytes} bytes, sha256 ${result.sha256})${changed}`;
    writeLine(
      io.stdout,
      result.dry_run ? `dry run: would set ${summary}; nothing was stored` : `set ${summary}`,
    );
  });

  const update = secret
    .command('update')
    .argument('<name>', 'secret name')
    .description(
      `change a secret's conditions without touching its value or version ("${CLEAR}" clears a condition)`,
    )
    .option('--json', 'print the result as JSON: {name, version, conditions}');
  conditionOptions(update).action(async (name: string, options: ConditionOptions & JsonOption) => {
    const path = secretPath(name);
    const conditions = conditionsChange(options);
    if (conditions === undefined) {
      throw usageError(
        'say what to change: --expires, --max-reads, --rotate-after-reads, --description or --owner; nothing was sent',
        `"${CLEAR}" as a value clears that condition, e.g. --expires ${CLEAR}`,
      );
    }
    const result = await new AdminClient(io.environment).request('PATCH', path, secretUpdateResponseSchema, {
      conditions,
    });
    if (options.json === true) {
      writeLine(io.stdout, terminalJson(result, 2));
      return;
    }
    const now = describeConditions(result.conditions, true);
    writeLine(
      io.stdout,
      `updated ${printable(result.name)} (version ${result.version} unchanged); now: ${now === '' ? 'no conditions' : now}`,
    );
  });

  secret
    .command('list')
    .argument('[prefix]', 'only names that start with this', '')
    .option(
      '--json',
      'print JSON: [{name, version, versions, updated_at, expires_at, max_reads, rotate_after_reads, description, owner, releases, reads_in_window, expired, budget_exhausted, rotation_required}]',
    )
    .description('list secrets with their versions and conditions (never values)')
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
        [
          'NAME',
          'VERSION',
          'VERSIONS',
          'UPDATED',
          'EXPIRES',
          'READS',
          'ROTATE',
          'OWNER',
          'DESCRIPTION',
          'STATUS',
        ],
        ...secrets.map((entry) => [
          entry.name,
          String(entry.version),
          String(entry.versions),
          entry.updated_at,
          entry.expires_at ?? '-',
          entry.max_reads === null
            ? '-'
            : `${entry.reads_in_window}/${entry.max_reads.count} per ${formatDuration(entry.max_reads.period_seconds)}`,
          entry.rotate_after_reads === null ? '-' : `${entry.releases}/${entry.rotate_after_reads}`,
          entry.owner ?? '-',
          entry.description ?? '-',
          status(entry),
        ]),
      ];
      for (const line of formatTable(rows)) writeLine(io.stdout, line);
    });

  secret
    .command('versions')
    .argument('<name>', 'secret name')
    .description(
      'list the versions kept of a secret: number, time, length, fingerprint, who set it (never values)',
    )
    .option(
      '--json',
      'print a JSON array, one object per version: {version, created_at, bytes, fingerprint, created_by, current}',
    )
    .action(async (name: string, options: JsonOption) => {
      const path = secretPath(name, 'versions');
      const history = await new AdminClient(io.environment).request(
        'GET',
        path,
        secretVersionsResponseSchema,
      );
      if (history.more) {
        writeLine(
          io.stderr,
          `only the newest ${history.versions.length} versions of ${printable(history.name)} are shown; older ones are kept`,
        );
      }
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(history.versions, 2));
        return;
      }
      const rows = [
        ['VERSION', 'CREATED', 'BYTES', 'FINGERPRINT', 'SET BY', 'CURRENT'],
        ...history.versions.map((kept) => [
          String(kept.version),
          kept.created_at,
          kept.bytes === null ? '-' : String(kept.bytes),
          kept.fingerprint ?? '-',
          kept.created_by === null ? '-' : `${kept.created_by.label} (${kept.created_by.token_id})`,
          kept.current ? '*' : '',
        ]),
      ];
      for (const line of formatTable(rows)) writeLine(io.stdout, line);
      if (history.current_version === null) {
        writeLine(
          io.stdout,
          `${printable(history.name)} is deleted: no version is released ("secret rollback ${printable(history.name)} --to N" restores one)`,
        );
      }
      if (history.versions.length === 0) writeLine(io.stdout, 'every version was purged');
    });

  secret
    .command('rollback')
    .argument('<name>', 'secret name')
    .requiredOption(
      '--to <version>',
      'the kept version whose value becomes current again',
      wholeNumberFrom(1, MAX_VERSION),
    )
    .description("store a kept version's value again as a new, current version (versions only grow)")
    .option('--json', 'print the result as JSON: {name, from, version}')
    .action(async (name: string, options: JsonOption & { readonly to: number }) => {
      const path = secretPath(name, 'rollback');
      const result = await new AdminClient(io.environment).request(
        'POST',
        path,
        secretRollbackResponseSchema,
        {
          to: options.to,
        },
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(result, 2));
        return;
      }
      writeLine(
        io.stdout,
        `rolled back ${printable(result.name)}: version ${result.version} holds the value of version ${result.from} and is current`,
      );
    });

  secret
    .command('delete')
    .argument('<name>', 'secret name')
    .description('delete a secret: it is no longer released or listed; its versions are kept unless --purge')
    .option('--purge', 'also destroy every kept version (their data keys): no rollback is possible after')
    .option('--json', 'print the result as JSON: {name, deleted}')
    .action(async (name: string, options: DeleteOptions) => {
      const path = secretPath(name);
      const purge = options.purge === true;
      const result = await new AdminClient(io.environment).request(
        'DELETE',
        purge ? `${path}?purge=true` : path,
        secretDeleteResponseSchema,
      );
      if (options.json === true) {
        writeLine(io.stdout, terminalJson(result, 2));
        return;
      }
      writeLine(
        io.stdout,
        purge
          ? `deleted ${printable(name)} and purged every version`
          : `deleted ${printable(name)}; its versions are kept ("secret versions", "secret rollback"; "secret delete --purge" destroys them)`,
      );
    });
}
