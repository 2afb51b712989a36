import { CodedError } from './coded-error.js';
import { PatternTooLargeError } from './automaton.js';
import { compileGlob, GlobSyntaxError, hasGlobCharacters, type Glob } from './glob.js';

/** Contract: segments of [A-Za-z0-9_.-]+ joined by "/", at most 256 characters, no empty, "." or ".." segment. */
export const SECRET_NAME_MAX_LENGTH = 256;
const SEGMENT = /^[A-Za-z0-9_.-]+$/;
/** Characters a request pattern may use besides name characters. */
const PATTERN_SEGMENT = /^[A-Za-z0-9_.\-*?[\]{}!,^]+$/;

/** Why `text` is not a "/"-joined list of segments made of `segment` characters, or undefined when it is. */
function segmentsProblem(
  text: string,
  what: 'name' | 'pattern',
  segment: RegExp,
  characters: string,
): string | undefined {
  if (text.length === 0) return `the ${what} is empty`;
  if (text.length > SECRET_NAME_MAX_LENGTH) {
    return `the ${what} is ${text.length} characters long; the limit is ${SECRET_NAME_MAX_LENGTH}`;
  }
  for (const part of text.split('/')) {
    if (part === '') return `the ${what} has an empty segment (a leading, trailing or doubled "/")`;
    if (part === '.' || part === '..') return `the ${what} has a "${part}" segment`;
    if (!segment.test(part)) return `the segment "${part}" has a character ${characters}`;
  }
  return undefined;
}

/** Why `name` is not a valid secret name, or undefined when it is. */
export function secretNameProblem(name: string): string | undefined {
  return segmentsProblem(name, 'name', SEGMENT, 'outside A-Z, a-z, 0-9, "_", "." and "-"');
}

/** A secret name or secret-name glob compiled (a name to a literal glob), or why it is neither. */
export function compileSecretTarget(target: string): Glob | string {
  return hasGlobCharacters(target)
    ? compileSecretPattern(target)
    : (secretNameProblem(target) ?? compileGlob(target));
}

/** A valid secret-name glob compiled, or why it is not one. */
function compileSecretPattern(pattern: string): Glob | string {
  const problem = segmentsProblem(
    pattern,
    'pattern',
    PATTERN_SEGMENT,
    'that is neither a name character nor a glob character',
  );
  if (problem !== undefined) return problem;
  try {
    return compileGlob(pattern, 'secret-name');
  } catch (error) {
    if (error instanceof GlobSyntaxError || error instanceof PatternTooLargeError) return error.message;
    throw error;
  }
}

/** One entry of an exchange request: a name or a pattern, optionally marked optional by a trailing "?". */
export interface RequestedEntry {
  /** The entry as the client sent it. */
  readonly raw: string;
  /** The name or pattern without the optional marker. */
  readonly target: string;
  readonly optional: boolean;
  readonly isPattern: boolean;
  /** The target compiled: a literal glob for a name. */
  readonly glob: Glob;
}

export class RequestedEntryError extends CodedError {
  readonly code = 'requested_entry_invalid';
}

/**
 * Parses a requested entry. A trailing "?" marks it optional; in a pattern a trailing "?" is always the
 * optional marker, never a glob (write "[a-z]" to match one character at the end).
 */
export function parseRequestedEntry(raw: string): RequestedEntry {
  const optional = raw.endsWith('?');
  const target = optional ? raw.slice(0, -1) : raw;
  const isPattern = hasGlobCharacters(target);
  const compiled = compileSecretTarget(target);
  if (typeof compiled === 'string') throw new RequestedEntryError(`${JSON.stringify(raw)}: ${compiled}`);
  return { raw, target, optional, isPattern, glob: compiled };
}
