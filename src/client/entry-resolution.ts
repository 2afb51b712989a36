import type { RequestedEntry, SecretReference } from '../protocol/secret-names.js';

/** A secret of the broker's answer, as far as matching it to entries goes. */
export interface NamedVersion {
  readonly name: string;
  readonly version: number;
}

/** An alternative as written in an entry: NAME, or NAME@N. */
export function referenceText(reference: SecretReference): string {
  return reference.version === undefined ? reference.name : `${reference.name}@${reference.version}`;
}

/** The highest version of each name among `items` (the current version is always the highest stored). */
function highestByName<T extends NamedVersion>(items: readonly T[]): Map<string, T> {
  const highest = new Map<string, T>();
  for (const item of items) {
    const seen = highest.get(item.name);
    if (seen === undefined || item.version > seen.version) highest.set(item.name, item);
  }
  return highest;
}

/** The item an alternative takes: the version it names, or the highest one returned under its name. */
function itemFor<T extends NamedVersion>(reference: SecretReference, items: readonly T[]): T | undefined {
  if (reference.version !== undefined)
    return items.find((item) => item.name === reference.name && item.version === reference.version);
  return highestByName(items.filter((item) => item.name === reference.name)).get(reference.name);
}

/** What a names entry released: the first of its alternatives the answer holds, and its place among them. */
export interface EntryWinner<T> {
  readonly item: T;
  /** From 0: the alternatives before it were not granted or not stored. */
  readonly index: number;
}

/**
 * The item a names entry (`NAME`, `NAME@3`, `a|b`) released, or undefined when the answer holds none of its
 * alternatives. The broker releases the first alternative that is granted and stored, and only that one: an
 * earlier alternative in the answer was granted and stored, so the first one found is the one released.
 */
export function winnerOf<T extends NamedVersion>(
  entry: RequestedEntry,
  items: readonly T[],
): EntryWinner<T> | undefined {
  for (const [index, reference] of entry.alternatives.entries()) {
    const item = itemFor(reference, items);
    if (item !== undefined) return { item, index };
  }
  return undefined;
}

/** The items a pattern entry released: each name it matches, at the highest version returned under it. */
export function patternMatches<T extends NamedVersion>(entry: RequestedEntry, items: readonly T[]): T[] {
  return [...highestByName(items.filter((item) => entry.glob.test(item.name))).values()];
}

/** Every item some entry takes: a names entry its winner, a pattern its matches. */
export function itemsTaken<T extends NamedVersion>(
  entries: readonly RequestedEntry[],
  items: readonly T[],
): Set<T> {
  const taken = new Set<T>();
  for (const entry of entries) {
    if (entry.isPattern) for (const item of patternMatches(entry, items)) taken.add(item);
    else {
      const winner = winnerOf(entry, items);
      if (winner !== undefined) taken.add(winner.item);
    }
  }
  return taken;
}
