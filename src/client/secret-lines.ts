import { CodedError } from '../protocol/coded-error.js';
import { printable } from '../protocol/printable.js';
import { parseRequestedEntry, RequestedEntryError, type RequestedEntry } from '../protocol/secret-names.js';
import { deriveEnvName, envNameProblem } from './env-names.js';
import { listEntryProblem } from './list-client.js';

/**
 * One secret entry (a line of the action's `secrets` input, a --secret of secrets-fetch): `NAME`, `ENV=NAME`,
 * `ENV=@NAME`, `PREFIX/*`, each optionally ending in "?"; a NAME may be `NAME@N` (version N) or alternatives
 * `a|b` (the first granted and stored wins).
 */
export interface SecretLine {
  /** The line of the secrets input, or the position of the --secret flag (from 1). */
  readonly lineNumber: number;
  /** Where the entry was written, in the words of its client: "line 3", "--secret #3". */
  readonly where: string;
  /** How to write one more entry in that client: "on its own line", "in a --secret of its own". */
  readonly ownEntry: string;
  readonly entry: RequestedEntry;
  /** Set by `ENV=NAME` and `ENV=@NAME`. */
  readonly envName: string | undefined;
  /** `ENV=@NAME`: the value goes to a 0600 file and ENV holds its path. */
  readonly toFile: boolean;
}

export class InputError extends CodedError {
  readonly code: string = 'input_invalid';
  override name = 'InputError';
}

/**
 * Each line of the action's `secrets` input that is neither blank nor a `#` comment, parsed by `parse` (which
 * throws an InputError for a bad one); every bad line is reported at once.
 */
function parseInputLines<T>(text: string, parse: (line: string, lineNumber: number) => T): T[] {
  const parsed: T[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      parsed.push(parse(line, index + 1));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(`secrets line ${index + 1} ("${line}"): ${error.message}`);
    }
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return parsed;
}

/** The action's `secrets` input: one entry a line; blank lines and `#` comments are skipped. */
export function parseSecretLines(text: string): SecretLine[] {
  const lines = parseInputLines(text, (line, lineNumber) =>
    parseSecretLine(line, lineNumber, `line ${lineNumber}`, 'on its own line'),
  );
  if (lines.length === 0)
    throw new InputError(
      'the secrets input names no secret: write one NAME, ENV=NAME, ENV=@NAME or PREFIX/* per line',
    );
  return lines;
}

/** secrets-fetch's --secret flags: each one entry (no comments, no blank ones), in the order given. */
export function parseSecretFlags(flags: readonly string[]): SecretLine[] {
  const lines: SecretLine[] = [];
  const problems: string[] = [];
  flags.forEach((raw, index) => {
    const where = `--secret #${index + 1}`;
    const flag = raw.trim();
    try {
      if (flag === '') throw new InputError('is empty: give NAME, ENV=NAME or PREFIX/*');
      const line = parseSecretLine(flag, index + 1, where, 'in a --secret of its own');
      if (line.toFile)
        throw new InputError('ENV=@NAME is for the GitHub Action; write a file with --out instead');
      lines.push(line);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      // One line per flag, whatever the flag holds.
      problems.push(`${where} '${printable(raw)}': ${printable(error.message)}`);
    }
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  if (lines.length === 0)
    throw new InputError(
      'no --secret given: pass --secret NAME (or ENV=NAME, or PREFIX/*) once for each secret or pattern',
    );
  return lines;
}

/** The `secrets` input of a list-only step: names and patterns to narrow the list to; none lists everything. */
export function parseListLines(text: string): RequestedEntry[] {
  return parseInputLines(text, parseListEntry);
}

/** secrets-fetch list's --secret flags: names and patterns to narrow the list to; none lists everything. */
export function parseListFlags(flags: readonly string[]): RequestedEntry[] {
  const entries: RequestedEntry[] = [];
  const problems: string[] = [];
  flags.forEach((raw, index) => {
    try {
      entries.push(parseListEntry(raw.trim()));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(`--secret #${index + 1} '${printable(raw)}': ${printable(error.message)}`);
    }
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return entries;
}

function parseListEntry(text: string): RequestedEntry {
  if (text === '') throw new InputError('is empty: give a NAME or a PREFIX/* pattern');
  if (text.includes('='))
    throw new InputError(
      'a list sets no variable, so ENV= has nothing to name: give the secret name or pattern alone',
    );
  const entry = parseEntry(text);
  const problem = listEntryProblem(entry);
  if (problem !== undefined) throw new InputError(problem);
  return entry;
}

function parseEntry(target: string): RequestedEntry {
  try {
    return parseRequestedEntry(target);
  } catch (error) {
    if (error instanceof RequestedEntryError) throw new InputError(error.message);
    throw error;
  }
}

/**
 * The variable name all the alternatives of an `a|b` entry written without ENV= share (the last segment,
 * upper-cased), or a problem: whichever alternative is released, the variable must be the same.
 */
function alternativesEnvNameProblem(entry: RequestedEntry): string | undefined {
  const names = [...new Set(entry.alternatives.map((reference) => deriveEnvName(reference.name)))];
  if (names.length <= 1) return undefined;
  return (
    `its alternatives would be exported under different names (${names.join(', ')}), depending on which one ` +
    `is released: name the variable for all of them, e.g. ${names[0] as string}=${entry.raw}`
  );
}

function parseSecretLine(line: string, lineNumber: number, where: string, ownEntry: string): SecretLine {
  const equals = line.indexOf('=');
  const envName = equals === -1 ? undefined : line.slice(0, equals).trim();
  let target = equals === -1 ? line : line.slice(equals + 1).trim();
  const toFile = target.startsWith('@');
  if (toFile) target = target.slice(1);
  if (envName !== undefined) {
    const problem = envNameProblem(envName);
    if (problem !== undefined) throw new InputError(problem);
  }
  if (toFile && envName === undefined) throw new InputError('"@" needs a variable name: write ENV=@NAME');
  const entry = parseEntry(target);
  if (envName === undefined) {
    const problem = alternativesEnvNameProblem(entry);
    if (problem !== undefined) throw new InputError(problem);
  }
  if (entry.isPattern && envName !== undefined) {
    throw new InputError(
      'a pattern cannot be given one variable name; each match gets its own (its last segment, upper-cased)',
    );
  }
  return { lineNumber, where, ownEntry, entry, envName, toFile };
}
