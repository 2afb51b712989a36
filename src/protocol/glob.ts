/**
 * Glob matching for policy claims and secret names (contract, DESIGN.md "Matching rules"):
 * `*` and `?` never cross `/` or `:`; `**` crosses `/` (never `:`); `{a,b}` is a choice; a backslash escapes the
 * next character. The whole value must match. `[..]` / `[!..]` classes are glob syntax in secret-name globs
 * only: in claim globs `[` and `]` are ordinary characters, because claim values hold them
 * (`dependabot[bot]`) and secret names never do.
 *
 * Globs compile to a linear-time automaton (./automaton.ts): no pattern, however hostile, makes matching
 * backtrack. Runs of adjacent wildcards are merged first (`**` `**` is `**`), which keeps hostile patterns small.
 * Hand-written because no maintained glob library lets `*` stop at `:` as well as `/`, which is what keeps
 * `repo:acme/*` from matching `repo:acme/api:ref:refs/heads/main`.
 */
import { CodedError } from './coded-error.js';
import { CharSet, Program, type Meter, type PatternNode } from './automaton.js';

/** Secret-name globs have character classes; claim globs do not (their values contain brackets). */
export type GlobFlavour = 'secret-name' | 'claim';

const GLOB_CHARACTERS: Readonly<Record<GlobFlavour, RegExp>> = {
  'secret-name': /[*?[\]{}]/,
  claim: /[*?{}]/,
};

export class GlobSyntaxError extends CodedError {
  readonly code: string = 'glob_syntax';
  override name = 'GlobSyntaxError';
}

export function hasGlobCharacters(text: string, flavour: GlobFlavour = 'secret-name'): boolean {
  return GLOB_CHARACTERS[flavour].test(text);
}

const SEPARATORS = CharSet.fromCharacters('/:');
const NOT_SEPARATOR = SEPARATORS.complement();
const NOT_COLON = CharSet.of(0x3a).complement();
const SLASH = CharSet.of(0x2f);

type Wildcard = 'star' | 'globstar' | 'globstar-slash';

const WILDCARD_NODES: Readonly<Record<Wildcard, PatternNode>> = {
  star: { type: 'repeat', item: { type: 'set', set: NOT_SEPARATOR }, min: 0, max: Infinity },
  globstar: { type: 'repeat', item: { type: 'set', set: NOT_COLON }, min: 0, max: Infinity },
  // "**/": nothing, or anything without ":" that ends in "/".
  'globstar-slash': {
    type: 'repeat',
    item: {
      type: 'sequence',
      items: [
        { type: 'repeat', item: { type: 'set', set: NOT_COLON }, min: 0, max: Infinity },
        { type: 'set', set: SLASH },
      ],
    },
    min: 0,
    max: 1,
  },
};

/**
 * Two adjacent wildcards that match the same as one: a `**` absorbs any neighbour; `**` `/` then `*` is any
 * depth of segments, which is `**`; `*` `*` is `*`. Undefined when the pair must stay two.
 */
function merge(left: Wildcard, right: Wildcard): Wildcard | undefined {
  if (left === 'globstar' || right === 'globstar') return 'globstar';
  if (left === right) return left;
  if (left === 'globstar-slash' && right === 'star') return 'globstar';
  return undefined;
}

type Item = PatternNode | Wildcard;

/** A compiled glob. */
export class Glob {
  private compiled: Program | undefined;

  private constructor(
    readonly pattern: string,
    private readonly node: PatternNode,
    /** Every match starts with this text: a cheap first test. */
    readonly literalPrefix: string,
    /** The one value that matches, when the glob has no wildcard, class or choice. */
    readonly literal: string | undefined,
    /** PREFIX*SUFFIX or PREFIX**SUFFIX, the common shapes, tested without the automaton. */
    private readonly oneWildcard: OneWildcard | undefined,
  ) {}

  static compile(pattern: string, flavour: GlobFlavour): Glob {
    const node = new GlobParser(pattern, flavour).parse();
    const items = node.type === 'sequence' ? node.items : [node];
    const prefix = literalText(items);
    const isLiteral = [...prefix].length === items.length;
    const glob = new Glob(
      pattern,
      node,
      prefix,
      isLiteral ? prefix : undefined,
      isLiteral ? undefined : oneWildcardShape(items),
    );
    // The common shapes are tested without the automaton: it is built only if an intersection needs it (every
    // request names up to 100 secrets, each compiled). Any other glob is built now, so a pattern too large to
    // compile is refused where it is parsed.
    if (glob.literal === undefined && glob.oneWildcard === undefined) glob.compiled = Program.compile(node);
    return glob;
  }

  private get program(): Program {
    this.compiled ??= Program.compile(this.node);
    return this.compiled;
  }

  /** States of the compiled automaton: a match costs at most about (input length + 1) × this many steps. */
  get size(): number {
    return this.program.size;
  }

  /** Whether the whole of `value` matches, in time linear in its length. */
  test(value: string, meter?: Meter): boolean {
    if (this.literal !== undefined) return value === this.literal;
    if (this.oneWildcard !== undefined) return matchesOneWildcard(this.oneWildcard, value);
    if (!value.startsWith(this.literalPrefix)) return false;
    return this.program.matches(value, meter);
  }

  /** Whether some value matches both globs. */
  intersects(other: Glob, meter?: Meter): boolean {
    if (this.literal !== undefined) return other.test(this.literal, meter);
    if (other.literal !== undefined) return this.test(other.literal, meter);
    const [shorter, longer] =
      this.literalPrefix.length <= other.literalPrefix.length
        ? [this.literalPrefix, other.literalPrefix]
        : [other.literalPrefix, this.literalPrefix];
    if (!longer.startsWith(shorter)) return false;
    return this.program.intersects(other.program, meter);
  }
}

export function compileGlob(pattern: string, flavour: GlobFlavour = 'secret-name'): Glob {
  return Glob.compile(pattern, flavour);
}

/** The text spelled by the leading single-character items. */
function literalText(items: readonly PatternNode[]): string {
  let text = '';
  for (const item of items) {
    const single = item.type === 'set' ? item.set.single : undefined;
    if (single === undefined) break;
    text += String.fromCodePoint(single);
  }
  return text;
}

interface OneWildcard {
  readonly prefix: string;
  readonly suffix: string;
  /** Characters the wildcard's part may not contain. */
  readonly excluded: readonly string[];
}

function oneWildcardShape(items: readonly PatternNode[]): OneWildcard | undefined {
  const prefix = literalText(items);
  const at = [...prefix].length;
  const wildcard = items[at];
  const excluded =
    wildcard === WILDCARD_NODES.star ? ['/', ':'] : wildcard === WILDCARD_NODES.globstar ? [':'] : undefined;
  if (excluded === undefined) return undefined;
  const rest = items.slice(at + 1);
  const suffix = literalText(rest);
  return [...suffix].length === rest.length ? { prefix, suffix, excluded } : undefined;
}

/** A string comparison, not charged to a meter (like comparing two names). */
function matchesOneWildcard(shape: OneWildcard, value: string): boolean {
  if (value.length < shape.prefix.length + shape.suffix.length) return false;
  if (!value.startsWith(shape.prefix) || !value.endsWith(shape.suffix)) return false;
  const middle = value.slice(shape.prefix.length, value.length - shape.suffix.length);
  return !shape.excluded.some((character) => middle.includes(character));
}

/** Deeper nesting is no real pattern, and parsing recursion must stay far from the stack's limit. */
const MAX_NESTING = 32;

class GlobParser {
  private index = 0;
  private depth = 0;
  private readonly characters: string[];

  constructor(
    private readonly pattern: string,
    private readonly flavour: GlobFlavour,
  ) {
    this.characters = [...pattern];
  }

  parse(): PatternNode {
    return this.sequence(false);
  }

  private fail(problem: string): never {
    throw new GlobSyntaxError(`"${this.pattern}" ${problem}`);
  }

  /** Parses until the end, or until "," / "}" when inside braces. */
  private sequence(insideBraces: boolean): PatternNode {
    const items: Item[] = [];
    const pushWildcard = (wildcard: Wildcard): void => {
      let current = wildcard;
      for (;;) {
        const last = items[items.length - 1];
        const merged = typeof last === 'string' ? merge(last, current) : undefined;
        if (merged === undefined) break;
        items.pop();
        current = merged;
      }
      items.push(current);
    };
    const characters = this.characters;
    while (this.index < characters.length) {
      const character = characters[this.index] as string;
      if (insideBraces && (character === ',' || character === '}')) return toSequence(items);
      switch (character) {
        case '\\': {
          const next = characters[this.index + 1];
          if (next === undefined) this.fail('ends with a lone "\\"');
          items.push(literal(next));
          this.index += 2;
          break;
        }
        case '*':
          if (characters[this.index + 1] === '*') {
            if (characters[this.index + 2] === '/') {
              pushWildcard('globstar-slash');
              this.index += 3;
            } else {
              pushWildcard('globstar');
              this.index += 2;
            }
          } else {
            pushWildcard('star');
            this.index += 1;
          }
          break;
        case '?':
          items.push({ type: 'set', set: NOT_SEPARATOR });
          this.index += 1;
          break;
        case '[':
          if (this.flavour === 'secret-name') items.push(this.characterClass());
          else {
            items.push(literal(character));
            this.index += 1;
          }
          break;
        case '{':
          items.push(this.braces());
          break;
        default:
          items.push(literal(character));
          this.index += 1;
      }
    }
    if (insideBraces) this.fail('has a "{" without its closing "}"');
    return toSequence(items);
  }

  private braces(): PatternNode {
    const options: PatternNode[] = [];
    this.depth += 1;
    if (this.depth > MAX_NESTING) this.fail(`nests "{" more than ${MAX_NESTING} deep`);
    this.index += 1; // the "{"
    for (;;) {
      options.push(this.sequence(true));
      const delimiter = this.characters[this.index];
      this.index += 1;
      if (delimiter === '}') {
        this.depth -= 1;
        return { type: 'choice', options };
      }
    }
  }

  private characterClass(): PatternNode {
    const characters = this.characters;
    this.index += 1; // the "["
    let negated = false;
    if (characters[this.index] === '!' || characters[this.index] === '^') {
      negated = true;
      this.index += 1;
    }
    const members: CharSet[] = [];
    let first = true;
    const member = (): number | undefined => {
      const character = characters[this.index];
      if (character === undefined) return undefined;
      if (character === '\\') {
        const next = characters[this.index + 1];
        if (next === undefined) return undefined;
        this.index += 2;
        return next.codePointAt(0) as number;
      }
      this.index += 1;
      return character.codePointAt(0) as number;
    };
    while (this.index < characters.length) {
      if (characters[this.index] === ']' && !first) {
        this.index += 1;
        const set = CharSet.union(members);
        // A negated class must not let a single character cross a separator either.
        return { type: 'set', set: negated ? set.complement().minus(SEPARATORS) : set };
      }
      first = false;
      const low = member();
      if (low === undefined) break;
      if (
        characters[this.index] === '-' &&
        characters[this.index + 1] !== ']' &&
        characters[this.index + 1] !== undefined
      ) {
        this.index += 1;
        const high = member();
        if (high === undefined) break;
        if (high < low)
          this.fail(
            `has the range "${String.fromCodePoint(low)}-${String.fromCodePoint(high)}" out of order`,
          );
        members.push(CharSet.range(low, high));
      } else {
        members.push(CharSet.of(low));
      }
    }
    return this.fail('has a "[" without its closing "]"');
  }
}

function literal(character: string): PatternNode {
  return { type: 'set', set: CharSet.of(character.codePointAt(0) as number) };
}

function toSequence(items: readonly Item[]): PatternNode {
  const nodes = items.map((item) => (typeof item === 'string' ? WILDCARD_NODES[item] : item));
  return nodes.length === 1 ? (nodes[0] as PatternNode) : { type: 'sequence', items: nodes };
}
