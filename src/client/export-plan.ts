import { CodedError } from '../protocol/coded-error.js';
import { printable } from '../protocol/printable.js';
import type { RequestedEntry } from '../protocol/secret-names.js';
import { patternMatches, referenceText, winnerOf, type EntryWinner } from './entry-resolution.js';
import type { ReleasedSecret } from './exchange-client.js';
import { deriveEnvName, envNameProblem } from './env-names.js';
import { DEFAULT_FILE_DIVIDER } from './file-entries.js';
import { fileNameOf, lineEntries, type SecretLine } from './secret-lines.js';

/** Which alternative of an `a|b` entry was released. */
export interface Fallback {
  /** The alternative released, as written (NAME or NAME@N). */
  readonly used: string;
  /** The alternatives written before it, none of them granted and stored. */
  readonly skipped: readonly string[];
  /** How many alternatives the entry lists. */
  readonly of: number;
}

export interface ExportItem {
  /** For a file of several secrets: their names joined by " + " (`sources` lists each). */
  readonly secretName: string;
  /** For a file of several secrets: the first one's (`sources` lists each). */
  readonly version: number;
  readonly envName: string;
  /** ENV=@...: the variable holds the path of a file with the value. */
  readonly toFile: boolean;
  /** For a file: the sources' values joined by the divider. */
  readonly value: string;
  /** Set for an entry with alternatives (`a|b`). */
  readonly fallback: Fallback | undefined;
  /** ENV=@...: the secrets the file joins, in the order written (one for ENV=@NAME); empty for a variable. */
  readonly sources: readonly ReleasedSecret[];
  /** ENV=@...: the file's name in the step's private directory. */
  readonly fileName: string | undefined;
}

/** The secrets of an item as the log and the summary name them: "a v1" or "a v1 + b v2". */
export function itemSecrets(item: ExportItem): string {
  const secrets = item.sources.length > 0 ? item.sources : [{ name: item.secretName, version: item.version }];
  return secrets.map((secret) => `${printable(secret.name)} v${secret.version}`).join(' + ');
}

/** What must match for two lines to export the same item under one name. */
function sameItem(a: ExportItem, b: ExportItem): boolean {
  const key = (item: ExportItem): string =>
    [item.secretName, item.version, item.toFile, item.fileName ?? '']
      .concat(item.sources.flatMap((source) => [source.name, source.version]))
      .join('\n');
  return key(a) === key(b);
}

export class ExportPlanError extends CodedError {
  readonly code: string = 'export_refused';
  override name = 'ExportPlanError';
}

function fallbackOf(entry: RequestedEntry, index: number): Fallback | undefined {
  const written = entry.alternatives.map(referenceText);
  if (written.length < 2) return undefined;
  return { used: written[index] as string, skipped: written.slice(0, index), of: written.length };
}

/** Why this alternative was used: "the first of 2 alternatives", or "a not granted or not stored". */
export function fallbackReason(fallback: Fallback): string {
  return fallback.skipped.length === 0
    ? `the first of ${fallback.of} alternatives`
    : `${fallback.skipped.join(', ')} not granted or not stored`;
}

/**
 * For each item of an `a|b` entry, one line saying which alternative it holds:
 * "DB_PASSWORD from shared/DB_PASSWORD (prod/api/DB_PASSWORD not granted or not stored)".
 */
export function fallbackNotes(items: readonly ExportItem[]): string[] {
  return items.flatMap((item) =>
    item.fallback === undefined
      ? []
      : [
          `${item.envName} from ${printable(item.fallback.used)} (${printable(fallbackReason(item.fallback))})`,
        ],
  );
}

const byName = (a: ReleasedSecret, b: ReleasedSecret): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/**
 * The secrets a file entry joins, in the order written: each named source's winner, each pattern's matches in
 * name order (but those the same file names as a source of their own, which stand at that place), each secret
 * once. `empty` lists the sources that are neither optional nor matched by anything released.
 */
function fileSources(
  line: SecretLine,
  winners: ReadonlyMap<RequestedEntry, EntryWinner<ReleasedSecret> | undefined>,
  released: readonly ReleasedSecret[],
): { readonly sources: ReleasedSecret[]; readonly empty: RequestedEntry[] } {
  const entries = lineEntries(line);
  const named = new Set(entries.flatMap((entry) => winners.get(entry)?.item.name ?? []));
  const sources: ReleasedSecret[] = [];
  const empty: RequestedEntry[] = [];
  const taken = new Set<ReleasedSecret>();
  const take = (secret: ReleasedSecret): void => {
    if (taken.has(secret)) return;
    taken.add(secret);
    sources.push(secret);
  };
  for (const entry of entries) {
    if (entry.isPattern) {
      const matches = patternMatches(entry, released);
      if (matches.length === 0 && !entry.optional) empty.push(entry);
      for (const secret of matches.sort(byName)) if (!named.has(secret.name)) take(secret);
    } else {
      const winner = winners.get(entry);
      if (winner !== undefined) take(winner.item);
    }
  }
  return { sources, empty };
}

/**
 * Maps released secrets to variable names, line by line: ENV= names as written, the others derived from the
 * secret name; a line's secret is its first alternative released, at the version it names or the current one.
 * A secret named on a line of its own (in any alternative, or as a source of a file) is left out of every
 * pattern, so `MY_NAME=prod/shared/X` renames one match of `prod/shared/*`. Two different secrets under one
 * variable name is an error that names both. A file entry's value is its sources joined by `divider`; one
 * whose sources are all optional and none released is left out, one with a pattern source that is not optional
 * and matched nothing is an error.
 */
export function planExports(
  lines: readonly SecretLine[],
  released: readonly ReleasedSecret[],
  divider: string = DEFAULT_FILE_DIVIDER,
): ExportItem[] {
  const items: ExportItem[] = [];
  const byEnvName = new Map<string, ExportItem>();
  const problems: string[] = [];
  const addItem = (item: ExportItem, line: SecretLine): void => {
    const existing = byEnvName.get(item.envName);
    if (existing === undefined) {
      byEnvName.set(item.envName, item);
      items.push(item);
      return;
    }
    if (sameItem(existing, item)) return;
    if (existing.secretName === item.secretName && existing.version === item.version) {
      problems.push(
        `${item.envName} is set by two entries that differ (a file and a variable, or two file names): keep one of them`,
      );
      return;
    }
    const [first, second] =
      existing.secretName === item.secretName
        ? [`${existing.secretName} version ${existing.version}`, `version ${item.version}`]
        : [existing.secretName, item.secretName];
    problems.push(
      `"${printable(first)}" and "${printable(second)}" would both be ${item.envName}; give one another name with ENV=NAME ${line.ownEntry}`,
    );
  };
  const add = (secret: ReleasedSecret, line: SecretLine, fallback?: Fallback): void => {
    const envName = line.envName ?? deriveEnvName(secret.name);
    // ENV= names were checked when the line was read.
    const problem =
      line.envName === undefined
        ? envNameProblem(
            envName,
            secret.name,
            line.entry.isPattern ? line.entry.raw : undefined,
            line.ownEntry,
          )
        : undefined;
    if (problem !== undefined) {
      problems.push(`secret "${printable(secret.name)}" (${line.where}): ${problem}`);
      return;
    }
    const file = line.toFile ? [secret] : [];
    addItem(
      {
        secretName: secret.name,
        version: secret.version,
        envName,
        toFile: line.toFile,
        value: secret.value,
        fallback,
        sources: file,
        fileName: fileNameOf(line),
      },
      line,
    );
  };
  const addFile = (line: SecretLine): void => {
    const { sources, empty } = fileSources(line, winners, released);
    for (const entry of empty)
      problems.push(
        `${line.envName as string} (${line.where}): no granted and stored secret matches "${printable(entry.raw)}"; ` +
          `store one, have the policy grant it, or mark the source optional ("${printable(entry.raw)}?")`,
      );
    const [first] = sources;
    if (first === undefined || empty.length > 0) return;
    if (sources.length === 1 && line.file?.sources.length === 1 && !line.entry.isPattern) {
      add(first, line, fallbackOf(line.entry, winners.get(line.entry)?.index ?? 0));
      return;
    }
    addItem(
      {
        secretName: sources.map((source) => source.name).join(' + '),
        version: first.version,
        envName: line.envName as string,
        toFile: true,
        value: sources.map((source) => source.value).join(divider),
        fallback: undefined,
        sources,
        fileName: fileNameOf(line),
      },
      line,
    );
  };
  const winners = new Map(
    lines.flatMap((line) =>
      lineEntries(line)
        .filter((entry) => !entry.isPattern)
        .map((entry) => [entry, winnerOf(entry, released)] as const),
    ),
  );
  // A name released for a line of its own is exported there, not also under a pattern's name for it; an
  // alternative that did not win is still exported by a pattern that matches it.
  const namedOnTheirOwnLine = new Set(
    [...winners.values()].flatMap((winner) => (winner === undefined ? [] : [winner.item.name])),
  );
  for (const line of lines) {
    if (line.toFile) addFile(line);
    else if (line.entry.isPattern) {
      for (const secret of patternMatches(line.entry, released))
        if (!namedOnTheirOwnLine.has(secret.name)) add(secret, line);
    } else {
      const winner = winners.get(line.entry);
      if (winner !== undefined) add(winner.item, line, fallbackOf(line.entry, winner.index));
    }
  }
  if (problems.length > 0) throw new ExportPlanError(problems.join('\n'));
  return items;
}
