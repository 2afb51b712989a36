/**
 * The glob semantics as a backtracking RegExp: the reference the linear-time matcher is compared with in
 * property tests, on inputs short enough that backtracking stays cheap. Test code only: never used on input
 * from a request.
 */
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

const escapeLiteral = (character: string): string => character.replace(REGEX_SPECIAL, '\\$&');

export function referenceGlob(pattern: string, classes = true): RegExp {
  let index = 0;
  const sequence = (insideBraces: boolean): string => {
    let source = '';
    while (index < pattern.length) {
      const character = pattern[index] as string;
      if (insideBraces && (character === ',' || character === '}')) return source;
      if (character === '\\') {
        source += escapeLiteral(pattern[index + 1] as string);
        index += 2;
      } else if (character === '*') {
        if (pattern[index + 1] === '*' && pattern[index + 2] === '/') {
          source += '(?:[^:]*/)?';
          index += 3;
        } else if (pattern[index + 1] === '*') {
          source += '[^:]*';
          index += 2;
        } else {
          source += '[^/:]*';
          index += 1;
        }
      } else if (character === '?') {
        source += '[^/:]';
        index += 1;
      } else if (character === '[' && classes) {
        const end = pattern.indexOf(']', index + 2);
        let body = pattern.slice(index + 1, end);
        const negated = body.startsWith('!');
        if (negated) body = body.slice(1);
        source += negated ? `[^${body}/:]` : `[${body}]`;
        index = end + 1;
      } else if (character === '{') {
        index += 1;
        const options = [sequence(true)];
        while (pattern[index] === ',') {
          index += 1;
          options.push(sequence(true));
        }
        index += 1; // "}"
        source += `(?:${options.join('|')})`;
      } else {
        source += escapeLiteral(character);
        index += 1;
      }
    }
    return source;
  };
  return new RegExp(`^${sequence(false)}$`, 'u');
}
