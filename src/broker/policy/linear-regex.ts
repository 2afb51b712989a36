/**
 * The policy's `{regex: R}` matchers: JavaScript regular expression syntax (as with the `u` flag, no other
 * flags), always anchored at both ends, run by the linear-time automaton of src/protocol/automaton.ts.
 *
 * What needs backtracking is refused with a clear error instead of being run: backreferences (`\1`, `\k<n>`),
 * lookahead and lookbehind, and also Unicode property escapes and inline modifiers, which this engine does not
 * implement. Everything else (classes, groups, alternation, `* + ? {n,m}` and their lazy forms, `^ $ \b \B`)
 * matches exactly as JavaScript would, in time linear in the value whatever the pattern.
 */
import { CodedError } from '../../protocol/coded-error.js';
import { CharSet, Program, WORD_CHARACTERS, type Meter, type PatternNode } from '../../protocol/automaton.js';

export class RegexSyntaxError extends CodedError {
  readonly code: string = 'regex_syntax';
  override name = 'RegexSyntaxError';
}

/** A construct that only a backtracking engine can run, or that this engine does not implement. */
export class RegexUnsupportedError extends RegexSyntaxError {
  override readonly code: string = 'regex_unsupported';
  override name = 'RegexUnsupportedError';
}

const DIGITS = CharSet.range(0x30, 0x39);
const WHITESPACE = CharSet.union([
  CharSet.range(0x09, 0x0d),
  CharSet.fromCharacters(' \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff'),
  CharSet.range(0x2000, 0x200a),
]);
const LINE_TERMINATORS = CharSet.fromCharacters('\n\r\u2028\u2029');
const ANY_BUT_LINE_TERMINATOR = LINE_TERMINATORS.complement();
const SYNTAX_CHARACTERS = '^$\\.*+?()[]{}|/';
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
const CLASS_ESCAPES: Readonly<Record<string, CharSet>> = {
  d: DIGITS,
  D: DIGITS.complement(),
  w: WORD_CHARACTERS,
  W: WORD_CHARACTERS.complement(),
  s: WHITESPACE,
  S: WHITESPACE.complement(),
};

/** A compiled, fully anchored regex. */
export class LinearRegex {
  private constructor(
    readonly source: string,
    private readonly program: Program,
  ) {}

  static compile(source: string, maxStates?: number): LinearRegex {
    return new LinearRegex(source, Program.compile(new RegexParser(source).parse(), maxStates));
  }

  /** States of the compiled automaton: a match costs at most about (input length + 1) × this many steps. */
  get size(): number {
    return this.program.size;
  }

  /** Whether the whole of `value` matches, in time linear in its length. */
  test(value: string, meter?: Meter): boolean {
    return this.program.matches(value, meter);
  }
}

/** Deeper nesting is no real pattern, and parsing recursion must stay far from the stack's limit. */
const MAX_NESTING = 32;

class RegexParser {
  private readonly characters: string[];
  private index = 0;
  private depth = 0;

  constructor(private readonly source: string) {
    this.characters = [...source];
  }

  parse(): PatternNode {
    const node = this.disjunction();
    if (this.index < this.characters.length) this.fail('has a ")" without its "("');
    return node;
  }

  private peek(offset = 0): string | undefined {
    return this.characters[this.index + offset];
  }

  private fail(problem: string): never {
    throw new RegexSyntaxError(`${problem} (at character ${this.index + 1})`);
  }

  private unsupported(construct: string, advice: string): never {
    throw new RegexUnsupportedError(
      `${construct} at character ${this.index + 1} is not supported: the broker matches regexes in linear time, ` +
        `without backtracking; ${advice}`,
    );
  }

  private disjunction(): PatternNode {
    const options = [this.alternative()];
    while (this.peek() === '|') {
      this.index += 1;
      options.push(this.alternative());
    }
    return options.length === 1 ? (options[0] as PatternNode) : { type: 'choice', options };
  }

  private alternative(): PatternNode {
    const items: PatternNode[] = [];
    for (;;) {
      const character = this.peek();
      if (character === undefined || character === '|' || character === ')') break;
      items.push(this.term());
    }
    return items.length === 1 ? (items[0] as PatternNode) : { type: 'sequence', items };
  }

  private term(): PatternNode {
    const assertion = this.assertion();
    if (assertion !== undefined) {
      if (this.atQuantifier()) this.fail('has a quantifier after an assertion (nothing to repeat)');
      return assertion;
    }
    const atom = this.atom();
    return this.quantified(atom);
  }

  private assertion(): PatternNode | undefined {
    const character = this.peek();
    if (character === '^' || character === '$') {
      this.index += 1;
      return { type: 'assert', assertion: character === '^' ? 'start' : 'end' };
    }
    if (character === '\\' && (this.peek(1) === 'b' || this.peek(1) === 'B')) {
      const negated = this.peek(1) === 'B';
      this.index += 2;
      return { type: 'assert', assertion: negated ? 'not-word-boundary' : 'word-boundary' };
    }
    if (character === '(' && this.peek(1) === '?') {
      const kind = this.peek(2);
      if (kind === '=' || kind === '!') this.unsupported(`lookahead "(?${kind}"`, 'match the value itself');
      if (kind === '<' && (this.peek(3) === '=' || this.peek(3) === '!'))
        this.unsupported(`lookbehind "(?<${this.peek(3)}"`, 'match the value itself');
    }
    return undefined;
  }

  private atQuantifier(): boolean {
    const character = this.peek();
    return (
      character === '*' ||
      character === '+' ||
      character === '?' ||
      (character === '{' && this.braceQuantifierAhead())
    );
  }

  /** Whether "{" starts a valid {n}, {n,} or {n,m}. */
  private braceQuantifierAhead(): boolean {
    return /^\{[0-9]+(,[0-9]*)?\}/.test(this.characters.slice(this.index, this.index + 24).join(''));
  }

  private quantified(atom: PatternNode): PatternNode {
    let min: number;
    let max: number;
    const character = this.peek();
    if (character === '*' || character === '+' || character === '?') {
      this.index += 1;
      [min, max] = character === '*' ? [0, Infinity] : character === '+' ? [1, Infinity] : [0, 1];
    } else if (character === '{' && this.braceQuantifierAhead()) {
      this.index += 1;
      min = this.number();
      max = min;
      if (this.peek() === ',') {
        this.index += 1;
        max = this.peek() === '}' ? Infinity : this.number();
      }
      this.index += 1; // the "}"
      if (max < min) this.fail(`has the repetition {${min},${max}} out of order`);
    } else {
      return atom;
    }
    // Lazy and greedy quantifiers match the same whole values.
    if (this.peek() === '?') this.index += 1;
    if (this.atQuantifier()) this.fail('has a quantifier after a quantifier (nothing to repeat)');
    return { type: 'repeat', item: atom, min, max };
  }

  private number(): number {
    let digits = '';
    while (this.peek() !== undefined && /[0-9]/.test(this.peek() as string)) {
      digits += this.peek();
      this.index += 1;
    }
    const value = Number(digits);
    // Counts past this would exceed any program size limit anyway; keep the arithmetic exact.
    return Math.min(value, 1_000_000);
  }

  private atom(): PatternNode {
    const character = this.peek() as string;
    switch (character) {
      case '.':
        this.index += 1;
        return { type: 'set', set: ANY_BUT_LINE_TERMINATOR };
      case '(':
        return this.group();
      case '[':
        return { type: 'set', set: this.characterClass() };
      case '\\':
        return { type: 'set', set: this.atomEscape() };
      case '*':
      case '+':
      case '?':
        return this.fail(`has "${character}" with nothing before it to repeat`);
      case '{':
        return this.fail(
          this.braceQuantifierAhead()
            ? 'has a {n,m} repetition with nothing before it to repeat'
            : 'has a lone "{" (write "\\{" for the character)',
        );
      case '}':
      case ']':
        return this.fail(`has a lone "${character}" (write "\\${character}" for the character)`);
      default:
        this.index += 1;
        return { type: 'set', set: CharSet.of(character.codePointAt(0) as number) };
    }
  }

  private group(): PatternNode {
    this.depth += 1;
    if (this.depth > MAX_NESTING) this.fail(`nests groups more than ${MAX_NESTING} deep`);
    this.index += 1; // the "("
    if (this.peek() === '?') {
      const kind = this.peek(1);
      if (kind === ':') {
        this.index += 2;
      } else if (kind === '<') {
        this.index += 2;
        const name = this.groupName();
        if (name === undefined) this.fail('has a named group "(?<" with an invalid name');
      } else {
        this.unsupported('an inline modifier group "(?"', 'write the pattern without flags');
      }
    }
    const inner = this.disjunction();
    if (this.peek() !== ')') this.fail('has a "(" without its ")"');
    this.index += 1;
    this.depth -= 1;
    return inner;
  }

  private groupName(): string | undefined {
    let name = '';
    while (this.peek() !== undefined && this.peek() !== '>') {
      name += this.peek();
      this.index += 1;
    }
    if (this.peek() !== '>' || !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) return undefined;
    this.index += 1;
    return name;
  }

  /** An escape outside a class: one character or a class escape such as \d. */
  private atomEscape(): CharSet {
    const next = this.peek(1);
    if (next === undefined) this.fail('ends with a lone "\\"');
    if (/[1-9]/.test(next))
      this.unsupported(`the backreference "\\${next}"`, "repeat the group's pattern instead");
    if (next === 'k') this.unsupported('the named backreference "\\k"', "repeat the group's pattern instead");
    return this.characterEscape(false);
  }

  /** `\` and what follows, at this.index; inside a class `\b` is backspace and `\-` is allowed. */
  private characterEscape(insideClass: boolean): CharSet {
    const next = this.peek(1) as string | undefined;
    if (next === undefined) this.fail('ends with a lone "\\"');
    this.index += 2;
    const classEscape = CLASS_ESCAPES[next];
    if (classEscape !== undefined) return classEscape;
    const control = CONTROL_ESCAPES[next];
    if (control !== undefined) return CharSet.of(control);
    if (insideClass && next === 'b') return CharSet.of(0x08);
    if (insideClass && next === '-') return CharSet.of(0x2d);
    if (SYNTAX_CHARACTERS.includes(next)) return CharSet.of(next.codePointAt(0) as number);
    switch (next) {
      case '0':
        if (this.peek() !== undefined && /[0-9]/.test(this.peek() as string))
          this.fail('has "\\0" followed by a digit (octal escapes are not allowed)');
        return CharSet.of(0);
      case 'c': {
        const letter = this.peek();
        if (letter === undefined || !/[A-Za-z]/.test(letter))
          this.fail('has "\\c" without a letter after it');
        this.index += 1;
        return CharSet.of((letter.codePointAt(0) as number) % 32);
      }
      case 'x':
        return CharSet.of(this.hexDigits(2));
      case 'u':
        return CharSet.of(this.unicodeEscape());
      case 'p':
      case 'P':
        return this.unsupported(
          `the Unicode property escape "\\${next}"`,
          'list the characters or ranges in a class instead',
        );
      default:
        return this.fail(`has the escape "\\${next}", which means nothing (escape only syntax characters)`);
    }
  }

  private hexDigits(count: number): number {
    const digits = this.characters.slice(this.index, this.index + count).join('');
    if (digits.length !== count || !/^[0-9A-Fa-f]+$/.test(digits))
      this.fail(`needs ${count} hex digits here`);
    this.index += count;
    return Number.parseInt(digits, 16);
  }

  private unicodeEscape(): number {
    if (this.peek() === '{') {
      this.index += 1;
      let digits = '';
      while (this.peek() !== undefined && /[0-9A-Fa-f]/.test(this.peek() as string) && digits.length <= 8) {
        digits += this.peek();
        this.index += 1;
      }
      if (this.peek() !== '}' || digits === '') this.fail('has an invalid "\\u{...}" escape');
      this.index += 1;
      const codePoint = Number.parseInt(digits, 16);
      if (codePoint > CharSet.MAX_CODE_POINT) this.fail('has a "\\u{...}" escape beyond U+10FFFF');
      return codePoint;
    }
    const unit = this.hexDigits(4);
    // A surrogate pair written as two escapes is one code point, as with the u flag.
    if (unit >= 0xd800 && unit <= 0xdbff && this.peek() === '\\' && this.peek(1) === 'u') {
      const saved = this.index;
      this.index += 2;
      if (/^[0-9A-Fa-f]{4}$/.test(this.characters.slice(this.index, this.index + 4).join(''))) {
        const trail = Number.parseInt(this.characters.slice(this.index, this.index + 4).join(''), 16);
        if (trail >= 0xdc00 && trail <= 0xdfff) {
          this.index += 4;
          return (unit - 0xd800) * 0x400 + (trail - 0xdc00) + 0x10000;
        }
      }
      this.index = saved;
    }
    return unit;
  }

  private characterClass(): CharSet {
    this.index += 1; // the "["
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.index += 1;
    }
    const members: CharSet[] = [];
    for (;;) {
      const character = this.peek();
      if (character === undefined) this.fail('has a "[" without its "]"');
      if (character === ']') {
        this.index += 1;
        const set = CharSet.union(members);
        return negated ? set.complement() : set;
      }
      const low = this.classAtom();
      if (this.peek() === '-' && this.peek(1) !== undefined && this.peek(1) !== ']') {
        this.index += 1;
        const high = this.classAtom();
        const lowPoint = low.single;
        const highPoint = high.single;
        if (lowPoint === undefined || highPoint === undefined)
          this.fail('has a range with a class escape such as \\d at one end');
        if (highPoint < lowPoint) this.fail('has a range out of order in a class');
        members.push(CharSet.range(lowPoint, highPoint));
      } else {
        members.push(low);
      }
    }
  }

  private classAtom(): CharSet {
    const character = this.peek() as string;
    if (character === '\\') {
      const next = this.peek(1);
      if (next !== undefined && /[1-9]/.test(next)) this.fail(`has "\\${next}" in a class`);
      if (next === 'k') this.fail('has "\\k" in a class');
      return this.characterEscape(true);
    }
    this.index += 1;
    return CharSet.of(character.codePointAt(0) as number);
  }
}
