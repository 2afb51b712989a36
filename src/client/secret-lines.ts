import { CodedError } from '../protocol/coded-error.js';
import { printable } from '../protocol/printable.js';
import { parseRequestedEntry, RequestedEntryError, type RequestedEntry } from '../protocol/secret-names.js';
import { MAX_SECRETS_PER_REQUEST } from '../protocol/wire-shapes.js';
import { deriveEnvName, envNameProblem } from './env-names.js';
import { fileNameProblem, splitFileSources } from './file-entries.js';
import { listEntryProblem } from './list-client.js';

/**
 * `ENV=@SOURCES` or `ENV=@SOURCES>FILE_NAME`: one file joining its sources, in the order written (a pattern's
 * matches in name order at its place), with the divider between them.
 */
export interface FileEntry {
  /** Each a name (`NAME@N` too, alternatives `a|b` only when alone) or a pattern, optional with a trailing "?". */
  readonly sources: readonly RequestedEntry[];
  /** The name written after ">"; undefined: the variable's name. */
  readonly name: string | undefined;
}

/**
 * One secret entry (a line of the action's `secrets` input, a --secret of secrets-fetch): `NAME`, `ENV=NAME`,
 * `ENV=@NAME`, `PREFIX/*`, each optionally ending in "?"; a NAME may be `NAME@N` (version N) or alternatives
 * `a|b` (the first granted and stored wins). The action's file entries join several sources: `ENV=@a+b`.
 */
export interface SecretLine {
  /** The line of the secrets input, or the position of the --secret flag (from 1). */
  readonly lineNumber: number;
  /** Where the entry was written, in the words of its client: "line 3", "--secret #3". */
  readonly where: string;
  /** How to write one more entry in that client: "on its own line", "in a --secret of its own". */
  readonly ownEntry: string;
  /** The entry; for a file entry, its first source (`file.sources` has them all). */
  readonly entry: RequestedEntry;
  /** Set by `ENV=NAME` and `ENV=@NAME`. */
  readonly envName: string | undefined;
  /** `ENV=@...`: the value goes to a 0600 file and ENV holds its path. */
  readonly toFile: boolean;
  /** Set for `ENV=@...`. */
  readonly file: FileEntry | undefined;
}

/** What a line asks the broker for: its entry, or each source of its file. */
export function lineEntries(line: SecretLine): readonly RequestedEntry[] {
  return line.file?.sources ?? [line.entry];
}

/** The entries of an exchange for `lines`: each once, in the order first written. */
export function requestedEntries(lines: readonly SecretLine[]): string[] {
  return [...new Set(lines.flatMap((line) => lineEntries(line).map((entry) => entry.raw)))];
}

/** The name of a file entry's file in the step's private directory. */
export function fileNameOf(line: SecretLine): string | undefined {
  return line.file === undefined ? undefined : (line.file.name ?? line.envName);
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
  const problems = [...fileNameClashes(lines)];
  const entries = requestedEntries(lines).length;
  if (entries > MAX_SECRETS_PER_REQUEST)
    problems.push(
      `the secrets input asks for ${entries} names and patterns (each source of a file counted); the broker ` +
        `takes at most ${MAX_SECRETS_PER_REQUEST} in one step: split them over two steps, or use a pattern`,
    );
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return lines;
}

/** Two file entries of different variables whose files would have the same name. */
function fileNameClashes(lines: readonly SecretLine[]): string[] {
  const byName = new Map<string, SecretLine>();
  const problems: string[] = [];
  for (const line of lines) {
    const name = fileNameOf(line);
    if (name === undefined) continue;
    const first = byName.get(name);
    if (first === undefined) byName.set(name, line);
    else if (first.envName !== line.envName)
      problems.push(
        `secrets ${first.where} (${first.envName as string}) and ${line.where} (${line.envName as string}) would ` +
          `both write the file ${name}: give one another name with ">", e.g. ${line.envName as string}=@...>other-name`,
      );
  }
  return problems;
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

/** `SOURCES` or `SOURCES>FILE_NAME` of `ENV=@...`. */
function parseFileEntry(text: string): FileEntry {
  const arrow = text.indexOf('>');
  const name = arrow === -1 ? undefined : text.slice(arrow + 1).trim();
  if (name !== undefined) {
    const problem = fileNameProblem(name);
    if (problem !== undefined) throw new InputError(problem);
  }
  const split = splitFileSources(arrow === -1 ? text : text.slice(0, arrow).trim());
  if ('problem' in split) throw new InputError(split.problem);
  if (split.value.length === 1) return { sources: [parseEntry(split.value[0] as string)], name };
  const sources: RequestedEntry[] = [];
  for (const [index, text] of split.value.entries()) {
    const where = `source ${index + 1} ("${text}")`;
    let source: RequestedEntry;
    try {
      source = parseEntry(text);
    } catch (error) {
      if (error instanceof InputError) throw new InputError(`${where}: ${error.message}`);
      throw error;
    }
    if (source.alternatives.length > 1)
      throw new InputError(
        `${where} lists alternatives: a file of several sources takes none; write ENV=@a|b alone, or name the one to use`,
      );
    if (sources.some((seen) => seen.raw === source.raw))
      throw new InputError(`it lists "${text}" twice: each source is written once`);
    sources.push(source);
  }
  return { sources, name };
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
  if (toFile) {
    const file = parseFileEntry(target);
    return { lineNumber, where, ownEntry, entry: file.sources[0] as RequestedEntry, envName, toFile, file };
  }
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
  return { lineNumber, where, ownEntry, entry, envName, toFile, file: undefined };
}
