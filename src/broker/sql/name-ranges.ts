/**
 * The names that start with a prefix are one range in byte order: [prefix, the prefix with its last character
 * one higher). Both stores compare secret names byte by byte (SQLite's TEXT does; PostgreSQL's name columns are
 * COLLATE "C"), so such a range is read from the name index without touching any other name.
 */

export interface NameRange {
  readonly from: string;
  /** Exclusive; undefined when the range runs to the end (the empty prefix). */
  readonly to: string | undefined;
}

/** Secret names are printable ASCII ([A-Za-z0-9_.-] and "/"): a prefix with another character starts none. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Disjoint ranges, in order, holding exactly the names that start with one of `prefixes`. A prefix that extends
 * another is dropped (its names are in the shorter one's range), so each name is read once.
 */
export function nameRanges(prefixes: readonly string[]): NameRange[] {
  const sorted = [...new Set(prefixes)].filter((prefix) => PRINTABLE_ASCII.test(prefix)).sort();
  const kept: string[] = [];
  for (const prefix of sorted) {
    const last = kept[kept.length - 1];
    // Sorted, the prefixes that extend `last` come right after it.
    if (last === undefined || !prefix.startsWith(last)) kept.push(prefix);
  }
  return kept.map((prefix) => ({ from: prefix, to: rangeEnd(prefix) }));
}

/** The first string above every string that starts with `prefix` (a character past "~" is still ASCII). */
function rangeEnd(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
