import { CodedError } from '../protocol/coded-error.js';
import { printable } from '../protocol/printable.js';
import type { RequestedEntry } from '../protocol/secret-names.js';
import { patternMatches, referenceText, winnerOf } from './entry-resolution.js';
import type { ReleasedSecret } from './exchange-client.js';
import { deriveEnvName, envNameProblem } from './env-names.js';
import type { SecretLine } from './secret-lines.js';

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
  readonly secretName: string;
  readonly version: number;
  readonly envName: string;
  /** ENV=@NAME: the variable holds the path of a 0600 file with the value. */
  readonly toFile: boolean;
  readonly value: string;
  /** Set for an entry with alternatives (`a|b`). */
  readonly fallback: Fallback | undefined;
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

/**
 * Maps released secrets to variable names, line by line: ENV= names as written, the others derived from the
 * secret name; a line's secret is its first alternative released, at the version it names or the current one.
 * A secret named on a line of its own (in any alternative) is left out of every pattern, so `MY_NAME=prod/shared/X`
 * renames one match of `prod/shared/*`. Two different secrets under one variable name is an error that names
 * both.
 */
export function planExports(lines: readonly SecretLine[], released: readonly ReleasedSecret[]): ExportItem[] {
  const items: ExportItem[] = [];
  const byEnvName = new Map<string, ExportItem>();
  const problems: string[] = [];
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
    const existing = byEnvName.get(envName);
    if (existing !== undefined) {
      if (
        existing.secretName !== secret.name ||
        existing.version !== secret.version ||
        existing.toFile !== line.toFile
      ) {
        const [first, second] =
          existing.secretName === secret.name
            ? [`${existing.secretName} version ${existing.version}`, `version ${secret.version}`]
            : [existing.secretName, secret.name];
        problems.push(
          `"${printable(first)}" and "${printable(second)}" would both be ${envName}; give one another name with ENV=NAME ${line.ownEntry}`,
        );
      }
      return;
    }
    const item = {
      secretName: secret.name,
      version: secret.version,
      envName,
      toFile: line.toFile,
      value: secret.value,
      fallback,
    };
    byEnvName.set(envName, item);
    items.push(item);
  };
  const winners = new Map(
    lines.filter((line) => !line.entry.isPattern).map((line) => [line, winnerOf(line.entry, released)]),
  );
  // A name released for a line of its own is exported there, not also under a pattern's name for it; an
  // alternative that did not win is still exported by a pattern that matches it.
  const namedOnTheirOwnLine = new Set(
    [...winners.values()].flatMap((winner) => (winner === undefined ? [] : [winner.item.name])),
  );
  for (const line of lines) {
    if (line.entry.isPattern) {
      for (const secret of patternMatches(line.entry, released))
        if (!namedOnTheirOwnLine.has(secret.name)) add(secret, line);
    } else {
      const winner = winners.get(line);
      if (winner !== undefined) add(winner.item, line, fallbackOf(line.entry, winner.index));
    }
  }
  if (problems.length > 0) throw new ExportPlanError(problems.join('\n'));
  return items;
}
