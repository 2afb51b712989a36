/**
 * Linear-time pattern matching: patterns (globs, policy regexes) compile to a Thompson NFA that is run as a
 * set of states advancing in lockstep over the input (a Pike VM without captures). Matching costs at most
 * (input length + 1) × (program size) steps whatever the pattern: there is no backtracking to blow up.
 *
 * Code points, not UTF-16 units, are the characters (like a `u`-flag RegExp).
 */
import { CodedError } from './coded-error.js';

/** A set of code points: sorted, disjoint, non-adjacent inclusive ranges, flattened as [lo, hi, lo, hi, ...]. */
export class CharSet {
  static readonly MAX_CODE_POINT = 0x10ffff;

  private constructor(private readonly bounds: readonly number[]) {}

  static of(codePoint: number): CharSet {
    return new CharSet([codePoint, codePoint]);
  }

  static range(low: number, high: number): CharSet {
    return new CharSet([low, high]);
  }

  static fromCharacters(text: string): CharSet {
    return CharSet.union([...text].map((character) => CharSet.of(character.codePointAt(0) as number)));
  }

  static union(sets: readonly CharSet[]): CharSet {
    const pairs: [number, number][] = [];
    for (const set of sets)
      for (let index = 0; index < set.bounds.length; index += 2)
        pairs.push([set.bounds[index] as number, set.bounds[index + 1] as number]);
    pairs.sort((left, right) => left[0] - right[0]);
    const bounds: number[] = [];
    for (const [low, high] of pairs) {
      const last = bounds.length - 1;
      if (last > 0 && low <= (bounds[last] as number) + 1)
        bounds[last] = Math.max(bounds[last] as number, high);
      else bounds.push(low, high);
    }
    return new CharSet(bounds);
  }

  complement(): CharSet {
    const bounds: number[] = [];
    let next = 0;
    for (let index = 0; index < this.bounds.length; index += 2) {
      const low = this.bounds[index] as number;
      if (low > next) bounds.push(next, low - 1);
      next = (this.bounds[index + 1] as number) + 1;
    }
    if (next <= CharSet.MAX_CODE_POINT) bounds.push(next, CharSet.MAX_CODE_POINT);
    return new CharSet(bounds);
  }

  minus(other: CharSet): CharSet {
    return CharSet.union([this.complement(), other]).complement();
  }

  has(codePoint: number): boolean {
    // Binary search over the ranges; most sets have one or two.
    let low = 0;
    let high = this.bounds.length / 2 - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (codePoint < (this.bounds[middle * 2] as number)) high = middle - 1;
      else if (codePoint > (this.bounds[middle * 2 + 1] as number)) low = middle + 1;
      else return true;
    }
    return false;
  }

  intersects(other: CharSet): boolean {
    let left = 0;
    let right = 0;
    while (left < this.bounds.length && right < other.bounds.length) {
      const low = Math.max(this.bounds[left] as number, other.bounds[right] as number);
      const high = Math.min(this.bounds[left + 1] as number, other.bounds[right + 1] as number);
      if (low <= high) return true;
      if ((this.bounds[left + 1] as number) < (other.bounds[right + 1] as number)) left += 2;
      else right += 2;
    }
    return false;
  }

  /** The one code point this set holds, or undefined when it holds none or several. */
  get single(): number | undefined {
    return this.bounds.length === 2 && this.bounds[0] === this.bounds[1] ? this.bounds[0] : undefined;
  }
}

export type Assertion = 'start' | 'end' | 'word-boundary' | 'not-word-boundary';

/** A pattern's structure, from which a program is compiled. */
export type PatternNode =
  | { readonly type: 'set'; readonly set: CharSet }
  | { readonly type: 'sequence'; readonly items: readonly PatternNode[] }
  | { readonly type: 'choice'; readonly options: readonly PatternNode[] }
  | { readonly type: 'repeat'; readonly item: PatternNode; readonly min: number; readonly max: number }
  | { readonly type: 'assert'; readonly assertion: Assertion };

type State =
  | { kind: 'char'; set: CharSet; next: number }
  | { kind: 'split'; targets: number[] }
  | { kind: 'assert'; assertion: Assertion; next: number }
  | { kind: 'match' };

export class PatternTooLargeError extends CodedError {
  readonly code: string = 'pattern_too_large';
  override name = 'PatternTooLargeError';
}

/** Refuses work past a budget: one per request bounds what all its pattern matching may cost together. */
export class WorkBudget {
  private remaining: number;

  constructor(private readonly limit: number) {
    this.remaining = limit;
  }

  spend(steps: number): void {
    this.remaining -= steps;
    if (this.remaining < 0) throw new WorkBudgetExceededError(this.limit);
  }
}

export class WorkBudgetExceededError extends CodedError {
  readonly code: string = 'work_budget_exceeded';
  override name = 'WorkBudgetExceededError';
  /** The steps the budget allowed. */
  constructor(readonly limit: number) {
    super('the patterns need more matching work than one request may use');
  }
}

/** Counts steps without a limit (tests measure that work grows linearly). */
export class StepCounter {
  steps = 0;
  spend(steps: number): void {
    this.steps += steps;
  }
}

export interface Meter {
  spend(steps: number): void;
}

const MATCH_STATE = 0;

/** The most states a program may have: counted repetition ({1000}) could otherwise grow it without bound. */
export const DEFAULT_MAX_STATES = 10_000;

/** A compiled pattern: matches whole inputs. */
export class Program {
  private scratch: [ActiveStates, ActiveStates] | undefined;

  private constructor(
    private readonly states: readonly State[],
    private readonly start: number,
    readonly hasAssertions: boolean,
  ) {}

  static compile(pattern: PatternNode, maxStates = DEFAULT_MAX_STATES): Program {
    const states: State[] = [];
    states[MATCH_STATE] = { kind: 'match' };
    let hasAssertions = false;
    const push = (state: State): number => {
      if (states.length >= maxStates) {
        throw new PatternTooLargeError(
          `the pattern compiles to more than ${maxStates} states; shorten it or lower its repetition counts`,
        );
      }
      states.push(state);
      return states.length - 1;
    };
    // Compiling is charged too: a repetition of something that compiles to no state ("(?:){1000}", nested)
    // pushes nothing, but each of its iterations is still work.
    let work = 0;
    const maxWork = maxStates * 8;
    // Compiled back to front: each node is given the state its match continues to.
    const emit = (node: PatternNode, next: number): number => {
      work += 1;
      if (work > maxWork) {
        throw new PatternTooLargeError(
          `the pattern takes more than ${maxWork} steps to compile; shorten it or lower its repetition counts`,
        );
      }
      switch (node.type) {
        case 'set':
          return push({ kind: 'char', set: node.set, next });
        case 'sequence': {
          let entry = next;
          for (let index = node.items.length - 1; index >= 0; index -= 1)
            entry = emit(node.items[index] as PatternNode, entry);
          return entry;
        }
        case 'choice':
          return push({ kind: 'split', targets: node.options.map((option) => emit(option, next)) });
        case 'assert':
          hasAssertions = true;
          return push({ kind: 'assert', assertion: node.assertion, next });
        case 'repeat': {
          let entry = next;
          if (node.max === Infinity) {
            const loop = push({ kind: 'split', targets: [] });
            (states[loop] as { targets: number[] }).targets = [emit(node.item, loop), next];
            entry = loop;
          } else {
            for (let count = node.min; count < node.max; count += 1)
              entry = push({ kind: 'split', targets: [emit(node.item, entry), next] });
          }
          for (let count = 0; count < node.min; count += 1) entry = emit(node.item, entry);
          return entry;
        }
      }
    };
    const start = emit(pattern, MATCH_STATE);
    return new Program(states, start, hasAssertions);
  }

  get size(): number {
    return this.states.length;
  }

  /** Whether the whole of `input` matches. Every state visit and character test is charged to `meter`. */
  matches(input: string, meter?: Meter): boolean {
    const codePoints = toCodePoints(input);
    // Two sets sized to the program, made once per program: matching allocates nothing per call.
    this.scratch ??= [new ActiveStates(this.states.length), new ActiveStates(this.states.length)];
    let [current, following] = this.scratch;
    current.clear();
    let steps = this.addClosure(current, this.start, codePoints, 0);
    for (let position = 0; position < codePoints.length; position += 1) {
      if (current.count === 0) break;
      const codePoint = codePoints[position] as number;
      following.clear();
      for (let index = 0; index < current.count; index += 1) {
        const state = this.states[current.at(index)] as State;
        steps += 1;
        if (state.kind === 'char' && state.set.has(codePoint))
          steps += this.addClosure(following, state.next, codePoints, position + 1);
      }
      [current, following] = [following, current];
      if (meter !== undefined && steps > 4096) {
        meter.spend(steps);
        steps = 0;
      }
    }
    meter?.spend(steps);
    return current.has(MATCH_STATE);
  }

  /** Adds `from` and what it reaches without consuming a character; returns the states visited. */
  private addClosure(
    active: ActiveStates,
    from: number,
    codePoints: readonly number[],
    position: number,
  ): number {
    let visited = 0;
    const stack = [from];
    while (stack.length > 0) {
      const index = stack.pop() as number;
      if (active.has(index)) continue;
      active.add(index);
      visited += 1;
      const state = this.states[index] as State;
      if (state.kind === 'split') {
        for (let target = state.targets.length - 1; target >= 0; target -= 1)
          stack.push(state.targets[target] as number);
      } else if (state.kind === 'assert' && holds(state.assertion, codePoints, position)) {
        stack.push(state.next);
      }
    }
    return visited;
  }

  /**
   * Whether some input matches both programs (their languages intersect), found by a walk over pairs of
   * states: at most size × size pairs, each charged to `meter`. Programs with assertions are not supported.
   */
  intersects(other: Program, meter?: Meter): boolean {
    if (this.hasAssertions || other.hasAssertions)
      throw new Error('intersection of programs with assertions is not supported');
    const mine = new ClosureCache(this.states);
    const theirs = new ClosureCache(other.states);
    const seen = new Set<number>();
    const queue: number[] = [];
    const width = other.states.length;
    let steps = 0;
    const visitAll = (left: readonly number[], right: readonly number[]): void => {
      for (const a of left)
        for (const b of right) {
          steps += 1;
          const key = a * width + b;
          if (!seen.has(key)) {
            seen.add(key);
            queue.push(key);
          }
        }
    };
    visitAll(mine.of(this.start), theirs.of(other.start));
    while (queue.length > 0) {
      const key = queue.pop() as number;
      const a = this.states[Math.floor(key / width)] as State;
      const b = other.states[key % width] as State;
      steps += 1 + mine.takeWork() + theirs.takeWork();
      if (steps > 4096) {
        meter?.spend(steps);
        steps = 0;
      }
      if (a.kind === 'match' && b.kind === 'match') {
        meter?.spend(steps);
        return true;
      }
      if (a.kind === 'char' && b.kind === 'char' && a.set.intersects(b.set))
        visitAll(mine.of(a.next), theirs.of(b.next));
    }
    meter?.spend(steps + mine.takeWork() + theirs.takeWork());
    return false;
  }
}

/** The character and match states each state reaches without consuming a character, computed once each. */
class ClosureCache {
  private readonly cache = new Map<number, number[]>();
  /** States visited computing closures, not yet charged. */
  work = 0;

  constructor(private readonly states: readonly State[]) {}

  of(from: number): number[] {
    const cached = this.cache.get(from);
    if (cached !== undefined) return cached;
    const reached: number[] = [];
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length > 0) {
      const index = stack.pop() as number;
      if (seen.has(index)) continue;
      seen.add(index);
      this.work += 1;
      const state = this.states[index] as State;
      if (state.kind === 'split') stack.push(...state.targets);
      else if (state.kind === 'char' || state.kind === 'match') reached.push(index);
    }
    this.cache.set(from, reached);
    return reached;
  }

  /** Hands the uncharged work over. */
  takeWork(): number {
    const work = this.work;
    this.work = 0;
    return work;
  }
}

/** A sparse set of state indexes: constant-time add, test and clear, iteration in insertion order. */
class ActiveStates {
  private readonly dense: Int32Array;
  private readonly sparse: Int32Array;
  count = 0;

  constructor(size: number) {
    this.dense = new Int32Array(size);
    this.sparse = new Int32Array(size);
  }

  has(index: number): boolean {
    const slot = this.sparse[index] as number;
    return slot < this.count && this.dense[slot] === index;
  }

  add(index: number): void {
    this.sparse[index] = this.count;
    this.dense[this.count] = index;
    this.count += 1;
  }

  at(slot: number): number {
    return this.dense[slot] as number;
  }

  clear(): void {
    this.count = 0;
  }
}

export const WORD_CHARACTERS = CharSet.union([
  CharSet.range(0x30, 0x39),
  CharSet.range(0x41, 0x5a),
  CharSet.of(0x5f),
  CharSet.range(0x61, 0x7a),
]);

function isWord(codePoint: number | undefined): boolean {
  return codePoint !== undefined && WORD_CHARACTERS.has(codePoint);
}

function holds(assertion: Assertion, codePoints: readonly number[], position: number): boolean {
  switch (assertion) {
    case 'start':
      return position === 0;
    case 'end':
      return position === codePoints.length;
    case 'word-boundary':
      return isWord(codePoints[position - 1]) !== isWord(codePoints[position]);
    case 'not-word-boundary':
      return isWord(codePoints[position - 1]) === isWord(codePoints[position]);
  }
}

function toCodePoints(text: string): number[] {
  const codePoints: number[] = [];
  for (const character of text) codePoints.push(character.codePointAt(0) as number);
  return codePoints;
}
