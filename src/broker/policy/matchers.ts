import { CodedError } from '../../protocol/coded-error.js';
import { PatternTooLargeError, type Meter } from '../../protocol/automaton.js';
import { compileGlob, GlobSyntaxError, hasGlobCharacters } from '../../protocol/glob.js';
import { LinearRegex, RegexSyntaxError, RegexUnsupportedError } from './linear-regex.js';

/**
 * A compiled claim matcher. It sees every value of a claim at once (one for a string claim, each element
 * for an array claim) so that `{not: M}` means "no value matches M", never "some value fails M".
 */
export interface ClaimMatcher {
  matches(values: readonly string[], meter?: Meter): boolean;
  /** The matcher as the policy wrote it, for hints and explain output. */
  readonly description: string;
  /** How much work a match may take, for checking the cheap claims of a rule first. */
  readonly cost: MatcherCost;
  /**
   * Set only when the matcher is plain string equality (an exact string, or a list of them): it matches exactly
   * when one of the token's values is one of these, so rules can be looked up by them (rule-index.ts).
   */
  readonly exactValues?: readonly string[];
}

/** Exact strings cost a comparison; globs and regexes run an automaton over the value. */
export enum MatcherCost {
  Exact = 0,
  Glob = 1,
  Regex = 2,
}

export class MatcherSyntaxError extends CodedError {
  readonly code: string = 'matcher_syntax';
  constructor(
    message: string,
    /** Path below the claim (list index, "regex", "not") where the problem is. */
    readonly subPath: readonly (string | number)[] = [],
  ) {
    super(message);
  }
}

/** The most states a policy regex may compile to: enough for any real pattern, small enough to stay cheap. */
export const MAX_REGEX_STATES = 2000;

const MATCHER_FORMS = 'a matcher is a string, a list of matchers, {regex: PATTERN} or {not: MATCHER}';

/**
 * A claim string matcher: exact, or a claim glob when it has `*`, `?` or `{a,b}`. There is no "a value equal
 * to the pattern text also matches" exception: it let a branch named `{main,release}` pass the pattern
 * `{main,release}`. Brackets are ordinary characters in claim globs, so `dependabot[bot]` is exact.
 */
/** A GitHub App's actor: the only place a claim value has brackets ("dependabot[bot]"). */
const BOT_SUFFIX = '[bot]';
/** What a backslash may escape in a claim glob. */
const CLAIM_GLOB_SYNTAX = '*?{},\\';

/**
 * Why a claim string would not mean what it looks like, or undefined. Claim matchers have no character classes:
 * a bracket anywhere but in a bot's name would be matched as itself, never what its author meant, and under
 * `{not: ...}` it would let every value through. A backslash that escapes nothing is refused for the same reason.
 */
function claimStringProblem(pattern: string): string | undefined {
  const withoutBot = pattern.endsWith(BOT_SUFFIX) ? pattern.slice(0, -BOT_SUFFIX.length) : pattern;
  if (/[[\]]/.test(withoutBot)) {
    return `brackets in a claim matcher are allowed only in a GitHub App's bot name, NAME${BOT_SUFFIX} (claim matchers have no character classes: brackets there are ordinary characters); for a class, or other brackets, write {regex: ...}`;
  }
  const isGlob = hasGlobCharacters(pattern, 'claim');
  for (let index = pattern.indexOf('\\'); index !== -1; index = pattern.indexOf('\\', index + 2)) {
    const escaped = pattern[index + 1];
    if (!isGlob)
      return 'a backslash escapes only inside a glob (a string with *, ? or {a,b}); this string has none, so the backslash would be matched as itself: remove it';
    if (escaped === undefined || !CLAIM_GLOB_SYNTAX.includes(escaped))
      return `the backslash before ${escaped === undefined ? 'the end' : `"${escaped}"`} escapes nothing (a backslash escapes * ? { } , or \\ in a claim glob): remove it, or write {regex: ...}`;
  }
  return undefined;
}

function compileClaimString(pattern: string): {
  test: (value: string, meter?: Meter) => boolean;
  cost: MatcherCost;
} {
  if (!hasGlobCharacters(pattern, 'claim'))
    return { test: (value) => value === pattern, cost: MatcherCost.Exact };
  const glob = compileGlob(pattern, 'claim');
  return { test: (value, meter) => glob.test(value, meter), cost: MatcherCost.Glob };
}

/** Compiles a matcher from its YAML form (parsed with the failsafe schema: every scalar is a string). */
export function compileClaimMatcher(spec: unknown): ClaimMatcher {
  if (typeof spec === 'string') {
    if (spec === '') throw new MatcherSyntaxError(`an empty string matches nothing; ${MATCHER_FORMS}`);
    const problem = claimStringProblem(spec);
    if (problem !== undefined) throw new MatcherSyntaxError(problem);
    let compiled: ReturnType<typeof compileClaimString>;
    try {
      compiled = compileClaimString(spec);
    } catch (error) {
      if (error instanceof GlobSyntaxError || error instanceof PatternTooLargeError)
        throw new MatcherSyntaxError(`bad glob: ${error.message}`);
      throw error;
    }
    return {
      matches: (values, meter) => values.some((value) => compiled.test(value, meter)),
      description: JSON.stringify(spec),
      cost: compiled.cost,
      exactValues: compiled.cost === MatcherCost.Exact ? [spec] : undefined,
    };
  }
  if (Array.isArray(spec)) {
    if (spec.length === 0) throw new MatcherSyntaxError(`an empty list matches nothing; ${MATCHER_FORMS}`);
    const members = spec.map((member, index) => {
      try {
        return compileClaimMatcher(member);
      } catch (error) {
        if (error instanceof MatcherSyntaxError)
          throw new MatcherSyntaxError(error.message, [index, ...error.subPath]);
        throw error;
      }
    });
    return {
      matches: (values, meter) => members.some((member) => member.matches(values, meter)),
      description: `any of [${members.map((member) => member.description).join(', ')}]`,
      cost: Math.max(...members.map((member) => member.cost)),
      exactValues: members.every((member) => member.exactValues !== undefined)
        ? members.flatMap((member) => member.exactValues ?? [])
        : undefined,
    };
  }
  if (spec !== null && typeof spec === 'object') {
    const keys = Object.keys(spec);
    if (keys.length !== 1 || (keys[0] !== 'regex' && keys[0] !== 'not')) {
      throw new MatcherSyntaxError(
        `a map here must have exactly one key, "regex" or "not"; found ${keys.length === 0 ? 'none' : keys.map((key) => `"${key}"`).join(', ')}`,
      );
    }
    const inner = (spec as Record<string, unknown>)[keys[0] as string];
    return keys[0] === 'regex' ? compileRegexMatcher(inner) : compileNotMatcher(inner);
  }
  throw new MatcherSyntaxError(`this value is empty; ${MATCHER_FORMS}`);
}

function compileRegexMatcher(source: unknown): ClaimMatcher {
  if (typeof source !== 'string' || source === '') {
    throw new MatcherSyntaxError('"regex" takes a non-empty string', ['regex']);
  }
  let regex: LinearRegex;
  try {
    // Fully anchored whatever the author wrote, and run in linear time whatever the value.
    regex = LinearRegex.compile(source, MAX_REGEX_STATES);
  } catch (error) {
    if (error instanceof RegexUnsupportedError)
      throw new MatcherSyntaxError(`regular expression not allowed: ${error.message}`, ['regex']);
    if (error instanceof RegexSyntaxError)
      throw new MatcherSyntaxError(`not a valid regular expression: ${error.message}`, ['regex']);
    if (error instanceof PatternTooLargeError)
      throw new MatcherSyntaxError(`regular expression too large: ${error.message}`, ['regex']);
    throw error;
  }
  return {
    matches: (values, meter) => values.some((value) => regex.test(value, meter)),
    description: `regex ${JSON.stringify(source)}`,
    cost: MatcherCost.Regex,
  };
}

function compileNotMatcher(inner: unknown): ClaimMatcher {
  let negated: ClaimMatcher;
  try {
    negated = compileClaimMatcher(inner);
  } catch (error) {
    if (error instanceof MatcherSyntaxError)
      throw new MatcherSyntaxError(error.message, ['not', ...error.subPath]);
    throw error;
  }
  return {
    matches: (values, meter) => !negated.matches(values, meter),
    description: `not ${negated.description}`,
    cost: negated.cost,
  };
}

/** The string values of a claim, or undefined when the token lacks it. Objects never match anything. */
export function claimValues(claims: Readonly<Record<string, unknown>>, name: string): string[] | undefined {
  if (!Object.hasOwn(claims, name)) return undefined;
  const value = claims[name];
  if (value === undefined || value === null) return undefined;
  const toStrings = (item: unknown): string[] =>
    typeof item === 'string'
      ? [item]
      : typeof item === 'number' || typeof item === 'boolean'
        ? [String(item)]
        : [];
  return Array.isArray(value) ? value.flatMap(toStrings) : toStrings(value);
}
