import type { Meter } from '../../protocol/automaton.js';
import type { RequestedEntry } from '../../protocol/secret-names.js';
import type { Grants } from '../policy/evaluate.js';

export interface ReleasePlan {
  /** Granted names to read from the store, in request order; `required` when a non-optional exact entry asked for it. */
  readonly names: ReadonlyMap<string, { readonly required: boolean; readonly entry: string }>;
  /** Non-optional entries no matched rule grants. */
  readonly notGranted: readonly string[];
  /** Non-optional patterns that are granted but match no stored secret. */
  readonly emptyPatterns: readonly string[];
}

/** Reads the stored secret names (only called when a requested pattern overlaps what is granted). */
export type StoredNames = () => Promise<readonly string[]>;

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
  if (grantedPatterns.length === 0) return { names, notGranted, emptyPatterns };

  // Granted first (the admin's globs), then the requested pattern, each name at most once per pattern.
  const granted = (await storedNames()).filter((name) => grants.isGranted(name));
  for (const entry of grantedPatterns) {
    const matches = granted.filter((name) => entry.glob.test(name, meter)).sort();
    for (const name of matches) want(name, false, entry.raw);
    if (matches.length === 0 && !entry.optional) emptyPatterns.push(entry.raw);
  }
  return { names, notGranted, emptyPatterns };
}
