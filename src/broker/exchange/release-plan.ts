import type { Meter } from '../../protocol/automaton.js';
import type { Glob } from '../../protocol/glob.js';
import type { RequestedEntry } from '../../protocol/secret-names.js';
import type { Grants } from '../policy/evaluate.js';

export interface ReleasePlan {
  /** Granted names to read from the store, in request order; `required` when a non-optional exact entry asked for it. */
  readonly names: ReadonlyMap<string, { readonly required: boolean; readonly entry: string }>;
  /** Non-optional entries no matched rule grants. */
  readonly notGranted: readonly string[];
  /** Non-optional patterns that are granted but match no stored secret. */
  readonly emptyPatterns: readonly string[];
  /** The granted patterns, when the names under their prefixes are more than MAX_NAMES_READ (nothing expanded). */
  readonly tooWide: readonly string[];
}

/**
 * Stored names one request's patterns may read (the names under their and the grants' prefixes). Beyond it
 * the request is refused rather than reading on: a request's work stays bounded whatever a grant covers.
 */
export const MAX_NAMES_READ = 10_000;

/**
 * Reads the stored secret names that start with one of `prefixes` (only called when a requested pattern
 * overlaps what is granted): a superset of what the patterns may release, read as ranges of the name index.
 */
export type StoredNames = (prefixes: readonly string[], limit: number) => Promise<readonly string[]>;

/**
 * Where every granted name a pattern matches lies: for each pattern and grant, the longer of their literal
 * prefixes when one extends the other. When neither does, no name starts with both, so the pair adds nothing.
 */
export function namePrefixesToRead(patterns: readonly Glob[], grantPrefixes: readonly string[]): string[] {
  const prefixes = new Set<string>();
  for (const { literalPrefix: wanted } of patterns) {
    for (const granted of grantPrefixes) {
      if (wanted.startsWith(granted)) prefixes.add(wanted);
      else if (granted.startsWith(wanted)) prefixes.add(granted);
    }
  }
  return [...prefixes];
}

/**
 * Decides what to read for a request. A pattern is first intersected with the workload's grants: one that
 * overlaps none is not granted, decided on the patterns alone, and stored names are read only for patterns
 * that overlap a grant. It then expands to the granted, stored names it matches. Whether a name exists is only
 * looked at for granted names, so a denial never reveals existence.
 */
export async function planRelease(
  entries: readonly RequestedEntry[],
  grants: Grants,
  storedNames: StoredNames,
  meter?: Meter,
): Promise<ReleasePlan> {
  const names = new Map<string, { required: boolean; entry: string }>();
  const notGranted: string[] = [];
  const emptyPatterns: string[] = [];
  const want = (name: string, required: boolean, entry: string): void => {
    const existing = names.get(name);
    names.set(name, { required: required || (existing?.required ?? false), entry: existing?.entry ?? entry });
  };

  const grantedPatterns: RequestedEntry[] = [];
  for (const entry of entries) {
    if (!entry.isPattern) {
      if (grants.isGranted(entry.target)) want(entry.target, !entry.optional, entry.raw);
      else if (!entry.optional) notGranted.push(entry.raw);
    } else if (grants.overlaps(entry.glob)) {
      grantedPatterns.push(entry);
    } else if (!entry.optional) {
      notGranted.push(entry.raw);
    }
  }
  if (grantedPatterns.length === 0) return { names, notGranted, emptyPatterns, tooWide: [] };

  // Only the names under the patterns' and grants' prefixes are read: a superset, so granted first (the admin's
  // globs), then the requested pattern, each name at most once per pattern.
  const prefixes = namePrefixesToRead(
    grantedPatterns.map((entry) => entry.glob),
    grants.namePrefixes,
  );
  const read = await storedNames(prefixes, MAX_NAMES_READ + 1);
  if (read.length > MAX_NAMES_READ)
    return { names, notGranted, emptyPatterns, tooWide: grantedPatterns.map((entry) => entry.raw) };
  const granted = read.filter((name) => grants.isGranted(name));
  for (const entry of grantedPatterns) {
    const matches = granted.filter((name) => entry.glob.test(name, meter)).sort();
    for (const name of matches) want(name, false, entry.raw);
    if (matches.length === 0 && !entry.optional) emptyPatterns.push(entry.raw);
  }
  return { names, notGranted, emptyPatterns, tooWide: [] };
}
