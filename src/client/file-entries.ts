/**
 * The pieces of a file entry of the action (`ENV=@a+b>keys.txt`) and of the inputs that shape its file: the
 * sources joined by "+", the file's name after ">", the `file-divider` and the `file-mode`. Each check returns
 * a problem (what is wrong and how to write it) or the value; the callers raise it as an input error.
 */
import { hasUnprintable } from '../protocol/printable.js';
import { MAX_SECRETS_PER_REQUEST } from '../protocol/wire-shapes.js';
import type { PrivateFileMode } from './private-files.js';

/** A file joins at most as many sources as one request may name. */
export const MAX_FILE_SOURCES = MAX_SECRETS_PER_REQUEST;

/** Between two sources of a file when the `file-divider` input is not set. */
export const DEFAULT_FILE_DIVIDER = '\n';

const MAX_DIVIDER_LENGTH = 256;
const MAX_FILE_NAME_LENGTH = 255;
const FILE_NAME = /^[A-Za-z0-9._-]+$/;

export type Checked<T> = { readonly value: T } | { readonly problem: string };

/**
 * The sources of `ENV=@SOURCES`, split at "+" (never a character of a name or a pattern), each trimmed; or why
 * they cannot be. Each source is still to be parsed as an entry.
 */
export function splitFileSources(text: string): Checked<string[]> {
  if (text === '')
    return { problem: 'nothing follows "@": write ENV=@NAME, ENV=@a+b (several secrets) or ENV=@PREFIX/*' };
  let count = 1;
  for (const character of text) if (character === '+') count += 1;
  if (count > MAX_FILE_SOURCES)
    return { problem: `it joins ${count} sources; a file joins at most ${MAX_FILE_SOURCES}` };
  const sources = text.split('+').map((source) => source.trim());
  const empty = sources.indexOf('');
  if (empty !== -1)
    return {
      problem: `source ${empty + 1} is empty (a leading, trailing or doubled "+"): write ENV=@a+b, each a secret name or pattern`,
    };
  return { value: sources };
}

/** Why `name` (written after ">") cannot name a file in the step's private directory, or undefined. */
export function fileNameProblem(name: string): string | undefined {
  const how =
    'write a plain file name after ">" (letters, digits, ".", "_" and "-"), e.g. ENV=@a+b>keys.txt; the file ' +
    'is always created in a new private directory under RUNNER_TEMP';
  if (name === '') return `nothing follows ">": ${how}`;
  if (name.length > MAX_FILE_NAME_LENGTH)
    return `the file name is ${name.length} characters long; the limit is ${MAX_FILE_NAME_LENGTH}`;
  if (name.includes('/') || name.includes('\\'))
    return `the file name "${name}" holds a path separator: ${how}`;
  if (name === '.' || name === '..') return `"${name}" is not a file name: ${how}`;
  if (!FILE_NAME.test(name))
    return `the file name "${name}" has a character outside A-Z, a-z, 0-9, ".", "_" and "-": ${how}`;
  return undefined;
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };

/**
 * The `file-divider` input: text written between two sources of a file, with `\n`, `\r`, `\t` and `\\` for a line
 * break, a carriage return, a tab and a backslash (the runner trims an input, so a divider cannot end in a raw
 * line break). Empty: a line break. Raw control and invisible characters are refused: write them as escapes.
 */
export function parseFileDivider(text: string): Checked<string> {
  if (text === '') return { value: DEFAULT_FILE_DIVIDER };
  if (text.length > MAX_DIVIDER_LENGTH)
    return {
      problem: `the file-divider input is ${text.length} characters long; the limit is ${MAX_DIVIDER_LENGTH}`,
    };
  if (hasUnprintable(text))
    return {
      problem:
        'the file-divider input holds a control or invisible character: write \\n for a line break, \\r for a ' +
        'carriage return and \\t for a tab',
    };
  let divider = '';
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index] as string;
    if (character !== '\\') {
      divider += character;
      continue;
    }
    const next = text[index + 1];
    const decoded = next === undefined ? undefined : ESCAPES[next];
    if (decoded === undefined)
      return {
        problem: `the file-divider input has "\\${next ?? ''}" at character ${index + 1}: the escapes are \\n, \\r, \\t and \\\\ (a backslash)`,
      };
    divider += decoded;
    index += 1;
  }
  return { value: divider };
}

/** The `file-mode` input: 0600 (the default) or 0640; nothing that lets others read, nothing read-only. */
export function parseFileMode(text: string): Checked<PrivateFileMode> {
  if (text === '' || text === '0600' || text === '600') return { value: 0o600 };
  if (text === '0640' || text === '640') return { value: 0o640 };
  return {
    problem:
      `the file-mode input must be 0600 (the default: only this job's user may read and write) or 0640 (its ` +
      `group may read too), not "${text}": a secrets file is never wider than 0640, and never read-only (the ` +
      'post step overwrites it before removing it)',
  };
}
