import { parseRequestedEntry, RequestedEntryError, type RequestedEntry } from '../protocol/secret-names.js';
import { envNameProblem } from './env-names.js';

/** One secret entry (a line of the action's `secrets` input, a --secret of secrets-fetch): `NAME`, `ENV=NAME`, `ENV=@NAME`, `PREFIX/*`, each optionally ending in "?". */
export interface SecretLine {
  readonly lineNumber: number;
  readonly entry: RequestedEntry;
  /** Set by `ENV=NAME` and `ENV=@NAME`. */
  readonly envName: string | undefined;
  /** `ENV=@NAME`: the value goes to a 0600 file and ENV holds its path. */
  readonly toFile: boolean;
}

export class InputError extends Error {
  override name = 'InputError';
}

export function parseSecretLines(text: string): SecretLine[] {
  const lines: SecretLine[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      lines.push(parseSecretLine(line, index + 1));
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

function parseSecretLine(line: string, lineNumber: number): SecretLine {
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
  return { lineNumber, entry, envName, toFile };
}
