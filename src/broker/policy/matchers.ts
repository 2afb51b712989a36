import { compileGlob, GlobSyntaxError, hasGlobCharacters } from '../../protocol/glob.js';

/**
 * A compiled claim matcher. It sees every value of a claim at once (one for a string claim, each element
 * for an array claim) so that `{not: M}` means "no value matches M", never "some value fails M".
 */
export interface ClaimMatcher {
  matches(values: readonly string[]): boolean;
  /** The matcher as the policy wrote it, for hints and explain output. */
  readonly description: string;
}

export class MatcherSyntaxError extends Error {
  constructor(
    message: string,
    /** Path below the claim (list index, "regex", "not") where the problem is. */
    readonly subPath: readonly (string | number)[] = [],
  ) {
    super(message);
  }
}

const MATCHER_FORMS = 'a matcher is a string, a list of matchers, {regex: PATTERN} or {not: MATCHER}';

/** Compiles a string matcher: exact, or a glob when it has glob characters (a value equal to it always matches). */
export function compileStringMatcher(pattern: string): (value: string) => boolean {
  if (!hasGlobCharacters(pattern)) return (value) => value === pattern;
  const glob = compileGlob(pattern);
  // A literal match too, so "dependabot[bot]" matches itself and not only "dependabotb".
  return (value) => value === pattern || glob.test(value);
}

/** Compiles a matcher from its YAML form (parsed with the failsafe schema: every scalar is a string). */
export function compileClaimMatcher(spec: unknown): ClaimMatcher {
  if (typeof spec === 'string') {
    if (spec === '') throw new MatcherSyntaxError(`an empty string matches nothing; ${MATCHER_FORMS}`);
    let test: (value: string) => boolean;
    try {
      test = compileStringMatcher(spec);
    } catch (error) {
      if (error instanceof GlobSyntaxError) throw new MatcherSyntaxError(`bad glob: ${error.message}`);
      throw error;
    }
    return { matches: (values) => values.some(test), description: JSON.stringify(spec) };
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
      matches: (values) => members.some((member) => member.matches(values)),
      description: `any of [${members.map((member) => member.description).join(', ')}]`,
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
  let regex: RegExp;
  try {
    // Fully anchored whatever the author wrote; the u flag makes sloppy escapes errors instead of literals.
    regex = new RegExp(`^(?:${source})$`, 'u');
  } catch (error) {
    throw new MatcherSyntaxError(`not a valid regular expression: ${(error as Error).message}`, ['regex']);
  }
  return {
    matches: (values) => values.some((value) => regex.test(value)),
    description: `regex ${JSON.stringify(source)}`,
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
  return { matches: (values) => !negated.matches(values), description: `not ${negated.description}` };
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
