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

/** One name an entry asks for, at its current version or at the version written after "@". */
export interface SecretReference {
  readonly name: string;
  /** Set by `NAME@N`; undefined asks for the current version. */
  readonly version: number | undefined;
}

/**
 * One entry of an exchange request: a pattern, or one or more names (`a|b`: the first granted and stored wins),
 * each optionally at a version (`NAME@3`), the whole entry optionally marked optional by a trailing "?".
 */
export interface RequestedEntry {
  /** The entry as the client sent it. */
  readonly raw: string;
  /** The entry without the optional marker: a pattern, a name, `NAME@N` or `a|b`. */
  readonly target: string;
  readonly optional: boolean;
  readonly isPattern: boolean;
  /** The pattern compiled; for names, the first one as a literal glob. */
  readonly glob: Glob;
  /** The names in the order written (one for a plain name, none for a pattern). */
  readonly alternatives: readonly SecretReference[];
}

export class RequestedEntryError extends CodedError {
  readonly code = 'requested_entry_invalid';
}

/** Names one entry may list as alternatives (`a|b|c`). */
export const MAX_ALTERNATIVES = 10;
/** Longest entry: MAX_ALTERNATIVES names of the longest length, each with a version, and the separators. */
export const MAX_ENTRY_LENGTH = MAX_ALTERNATIVES * (SECRET_NAME_MAX_LENGTH + 11) + MAX_ALTERNATIVES;
/** Highest version a request may name: versions are stored as 32-bit integers. */
export const MAX_VERSION = 2_147_483_647;
const VERSION_DIGITS = /^[1-9][0-9]{0,9}$/;

/** The version written after "@", or why it is not one. */
function parseVersion(text: string): number | string {
  if (text === '')
    return 'nothing follows "@": write NAME@3 for version 3, or leave out "@" for the current version';
  if (text === '0') return 'versions start at 1';
  if (!VERSION_DIGITS.test(text) || Number(text) > MAX_VERSION) {
    return `"${text}" is not a version: write a whole number from 1 to ${MAX_VERSION}, without sign or leading zeros`;
  }
  return Number(text);
}

/** One alternative of a names entry: a name, optionally `@N`; or why it is not one. */
function parseReference(text: string): SecretReference | string {
  const at = text.indexOf('@');
  const name = at === -1 ? text : text.slice(0, at);
  if (name !== '' && hasGlobCharacters(name)) {
    return `"${name}" is a pattern: only names can be given a version or alternatives`;
  }
  const problem = secretNameProblem(name);
  if (problem !== undefined) return problem;
  if (at === -1) return { name, version: undefined };
  const version = parseVersion(text.slice(at + 1));
  return typeof version === 'string' ? version : { name, version };
}

/** The names of a `a|b` or `NAME@N` entry, or why they are not valid. */
function parseAlternatives(target: string): SecretReference[] | string {
  const parts = target.split('|');
  if (parts.length > MAX_ALTERNATIVES) {
    return `it lists ${parts.length} alternatives; the limit is ${MAX_ALTERNATIVES}`;
  }
  const references: SecretReference[] = [];
  for (const [index, part] of parts.entries()) {
    if (part === '') {
      return `alternative ${index + 1} is empty (a leading, trailing or doubled "|"): write a|b, each a secret name`;
    }
    const reference = parseReference(part);
    if (typeof reference === 'string')
      return parts.length === 1 ? reference : `alternative ${index + 1}: ${reference}`;
    if (references.some((seen) => seen.name === reference.name && seen.version === reference.version)) {
      return `it lists "${part}" twice`;
    }
    references.push(reference);
  }
  return references;
}

/**
 * Parses a requested entry. A trailing "?" marks it optional; in a pattern a trailing "?" is always the
 * optional marker, never a glob (write "[a-z]" to match one character at the end).
 */
export function parseRequestedEntry(raw: string): RequestedEntry {
  if (raw.length > MAX_ENTRY_LENGTH) {
    throw new RequestedEntryError(
      `an entry of ${raw.length} characters starting ${JSON.stringify(raw.slice(0, 40))}: the limit is ${MAX_ENTRY_LENGTH}`,
    );
  }
  const optional = raw.endsWith('?');
  const target = optional ? raw.slice(0, -1) : raw;
  if (!target.includes('|') && !target.includes('@')) {
    const isPattern = hasGlobCharacters(target);
    const compiled = compileSecretTarget(target);
    if (typeof compiled === 'string') throw new RequestedEntryError(`${JSON.stringify(raw)}: ${compiled}`);
    return {
      raw,
      target,
      optional,
      isPattern,
      glob: compiled,
      alternatives: isPattern ? [] : [{ name: target, version: undefined }],
    };
  }
  const alternatives = parseAlternatives(target);
  if (typeof alternatives === 'string')
    throw new RequestedEntryError(`${JSON.stringify(raw)}: ${alternatives}`);
  const first = alternatives[0] as SecretReference;
  return { raw, target, optional, isPattern: false, glob: compileGlob(first.name), alternatives };
}

/** What an entry may release, compiled: its pattern, or each of its names in the order written. */
export function entryGlobs(entry: RequestedEntry): Glob[] {
  return entry.isPattern ? [entry.glob] : entry.alternatives.map((reference) => compileGlob(reference.name));
}
