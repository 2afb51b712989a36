import { CodedError } from '../protocol/coded-error.js';
import { printable } from '../protocol/printable.js';
import { parseRequestedEntry, RequestedEntryError, type RequestedEntry } from '../protocol/secret-names.js';
import { envNameProblem } from './env-names.js';

/** One secret entry (a line of the action's `secrets` input, a --secret of secrets-fetch): `NAME`, `ENV=NAME`, `ENV=@NAME`, `PREFIX/*`, each optionally ending in "?". */
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

/** The action's `secrets` input: one entry a line; blank lines and `#` comments are skipped. */
export function parseSecretLines(text: string): SecretLine[] {
  const lines: SecretLine[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      lines.push(parseSecretLine(line, index + 1, `line ${index + 1}`, 'on its own line'));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(`secrets line ${index + 1} ("${line}"): ${error.message}`);
    }
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
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
  let entry: RequestedEntry;
  try {
    entry = parseRequestedEntry(target);
  } catch (error) {
    if (error instanceof RequestedEntryError) throw new InputError(error.message);
    throw error;
  }
  if (entry.isPattern && envName !== undefined) {
    throw new InputError(
      'a pattern cannot be given one variable name; each match gets its own (its last segment, upper-cased)',
    );
  }
  return { lineNumber, where, ownEntry, entry, envName, toFile };
}
