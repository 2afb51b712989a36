/**
 * Glob matching for policy claims and secret names (contract, DESIGN.md "Matching rules"):
 * `*` and `?` never cross `/` or `:`; `**` crosses `/` (never `:`); `[..]`, `[!..]` and `{a,b}` work as in a
 * shell. A backslash escapes the next character. The whole value must match.
 *
 * Hand-written because no maintained glob library lets `*` stop at `:` as well as `/`, which is what keeps
 * `repo:acme/*` from matching `repo:acme/api:ref:refs/heads/main`.
 */

const GLOB_CHARACTERS = /[*?[\]{}]/;
// "-" is left out: with the `u` flag "\-" is only valid inside a class, and a lone "-" needs no escape.
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

export class GlobSyntaxError extends Error {}

export function hasGlobCharacters(text: string): boolean {
  return GLOB_CHARACTERS.test(text);
}

export function compileGlob(pattern: string): RegExp {
  return new RegExp(`^${translate(pattern, 0, false).source}$`, 'u');
}

interface Translation {
  source: string;
  end: number;
}

function escapeLiteral(character: string): string {
  return character.replace(REGEX_SPECIAL, '\\$&');
}

/** Translates from `start` until the end, or until `,` / `}` when inside braces. */
function translate(pattern: string, start: number, insideBraces: boolean): Translation {
  let source = '';
  let index = start;
  while (index < pattern.length) {
    const character = pattern[index] as string;
    if (insideBraces && (character === ',' || character === '}')) return { source, end: index };
    switch (character) {
      case '\\': {
        const next = pattern[index + 1];
        if (next === undefined) throw new GlobSyntaxError(`"${pattern}" ends with a lone "\\"`);
        source += escapeLiteral(next);
        index += 2;
        break;
      }
      case '*': {
        if (pattern[index + 1] === '*') {
          if (pattern[index + 2] === '/') {
            source += '(?:[^:]*/)?';
            index += 3;
          } else {
            source += '[^:]*';
            index += 2;
          }
        } else {
          source += '[^/:]*';
          index += 1;
        }
        break;
      }
      case '?':
        source += '[^/:]';
        index += 1;
        break;
      case '[': {
        const translated = translateClass(pattern, index);
        source += translated.source;
        index = translated.end;
        break;
      }
      case '{': {
        const translated = translateBraces(pattern, index);
        source += translated.source;
        index = translated.end;
        break;
      }
      default:
        source += escapeLiteral(character);
        index += 1;
    }
  }
  if (insideBraces) throw new GlobSyntaxError(`"${pattern}" has a "{" without its closing "}"`);
  return { source, end: index };
}

function translateClass(pattern: string, start: number): Translation {
  let index = start + 1;
  let negated = false;
  if (pattern[index] === '!' || pattern[index] === '^') {
    negated = true;
    index += 1;
  }
  let members = '';
  let first = true;
  while (index < pattern.length) {
    const character = pattern[index] as string;
    if (character === ']' && !first) {
      // A negated class must not let a single character cross a separator either.
      const body = negated ? `^${members}/:` : members;
      return { source: `[${body}]`, end: index + 1 };
    }
    if (character === '\\') {
      const next = pattern[index + 1];
      if (next === undefined) break;
      members += escapeLiteral(next);
      index += 2;
    } else {
      members += character === '-' ? '-' : escapeLiteral(character);
      index += 1;
    }
    first = false;
  }
  throw new GlobSyntaxError(`"${pattern}" has a "[" without its closing "]"`);
}

function translateBraces(pattern: string, start: number): Translation {
  const alternatives: string[] = [];
  let index = start + 1;
  for (;;) {
    const alternative = translate(pattern, index, true);
    alternatives.push(alternative.source);
    index = alternative.end;
    if (pattern[index] === '}') return { source: `(?:${alternatives.join('|')})`, end: index + 1 };
    index += 1; // the ","
  }
}
