/**
 * Writes name/value pairs in the file formats clients offer. A format writes every value its readers read back
 * exactly, or refuses it (FormatError, naming the secret, never the value): nothing is written that a reader
 * would read as another value.
 */
import { CodedError } from '../protocol/coded-error.js';

export interface NamedValue {
  readonly name: string;
  readonly value: string;
  /** The secret the value came from, for messages. */
  readonly secretName?: string;
}

export class FormatError extends CodedError {
  readonly code: string = 'format_refused';
  override name = 'FormatError';
}

function refuse(format: string, item: NamedValue, reason: string): FormatError {
  const what = item.secretName === undefined ? item.name : `secret "${item.secretName}" (${item.name})`;
  return new FormatError(
    `the ${format} format cannot carry the value of ${what}: ${reason}; the json format carries any value`,
  );
}

/**
 * A UTF-16 surrogate not in a pair (in `u` mode a pair is one code point, so only a lone one matches). Written as
 * a range rather than \p{Cs}: a property class costs a short-lived client its Unicode tables to build.
 */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Refuses what no text file written in UTF-8 holds: a lone UTF-16 surrogate is not text, and is written (and so
 * read back) as U+FFFD, another value.
 */
function refuseLoneSurrogate(format: string, item: NamedValue): void {
  if (LONE_SURROGATE.test(item.value))
    throw refuse(
      format,
      item,
      'it holds a lone UTF-16 surrogate, which a UTF-8 file writes as another character',
    );
}

/** No environment variable, and no shell string, can hold a NUL character. */
function refuseNul(format: string, item: NamedValue): void {
  if (item.value.includes('\0'))
    throw refuse(format, item, 'it holds a NUL character, which no environment variable can');
}

/** Single-quoted for POSIX shells: nothing inside is expanded; a quote is written as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** The characters a POSIX shell still expands inside double quotes. */
const SHELL_DOUBLE_QUOTE_SPECIAL = /["$`\\]/;

/**
 * One dotenv line. What is written is read back as exactly the value by the `dotenv` package (its parse, and so
 * its config), by `node --env-file` and by a POSIX shell's `set -a; . FILE`:
 * - `NAME='value'` when the value holds no single quote: none of the readers expands anything inside.
 * - `NAME="value"` when it holds a single quote but none of `"`, `$`, backquote or backslash: then no reader
 *   expands anything inside either (dotenv and node expand `\n` in double quotes; a shell, `$` and backquotes).
 * Refused: a carriage return (dotenv reads it as a line break, node drops it), a NUL character, a lone
 * surrogate (see refuseLoneSurrogate), a value ending
 * in a backslash (dotenv's parser reads `\'` before the closing quote as an escaped quote and may run on into
 * later lines), and a single quote together with one of `"`, `$`, backquote or backslash (only backquotes would
 * hold it for dotenv and node, and a shell runs what is inside backquotes).
 */
function dotenvLine(item: NamedValue): string {
  const { name, value } = item;
  refuseNul('dotenv', item);
  refuseLoneSurrogate('dotenv', item);
  if (value.includes('\r'))
    throw refuse(
      'dotenv',
      item,
      'it holds a carriage return, which dotenv readers turn into a line break or drop',
    );
  if (value.endsWith('\\'))
    throw refuse(
      'dotenv',
      item,
      'it ends in a backslash, which the dotenv package reads as escaping the closing quote',
    );
  if (!value.includes("'")) return `${name}='${value}'\n`;
  if (!SHELL_DOUBLE_QUOTE_SPECIAL.test(value)) return `${name}="${value}"\n`;
  throw refuse(
    'dotenv',
    item,
    'it holds a single quote and one of " $ ` \\, which no dotenv quoting carries to every reader',
  );
}

/** NAME='value' lines (see dotenvLine) for the `dotenv` package, `node --env-file` and `set -a; . FILE`. */
export function formatDotenv(values: readonly NamedValue[]): string {
  return values.map(dotenvLine).join('');
}

export function formatJson(values: readonly NamedValue[]): string {
  return `${JSON.stringify(Object.fromEntries(values.map(({ name, value }) => [name, value])), null, 2)}\n`;
}

/**
 * `export NAME='value'` lines for `eval` or `.` in sh, bash or zsh: any value but one with a NUL character or a
 * lone surrogate.
 */
export function formatShell(values: readonly NamedValue[]): string {
  return values
    .map((item) => {
      refuseNul('shell', item);
      refuseLoneSurrogate('shell', item);
      return `export ${item.name}=${shellQuote(item.value)}\n`;
    })
    .join('');
}

/**
 * GitHub's GITHUB_ENV format: NAME<<DELIMITER blocks with a random delimiter that is not in the value. Refused:
 * a lone surrogate, which the UTF-8 file cannot hold.
 */
export function formatGithubEnv(values: readonly NamedValue[], randomDelimiter: () => string): string {
  return values
    .map((item) => {
      refuseLoneSurrogate('github-env', item);
      const { name, value } = item;
      let delimiter = randomDelimiter();
      while (value.includes(delimiter)) delimiter = randomDelimiter();
      return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
    })
    .join('');
}

export const OUTPUT_FORMATS = ['dotenv', 'json', 'shell', 'github-env'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
