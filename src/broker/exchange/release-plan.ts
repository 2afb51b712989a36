import { compileGlob } from '../../protocol/glob.js';
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

/**
 * Decides what to read for a request. A pattern expands to the granted, stored names it matches. Whether a
 * name exists is only looked at for granted names, so a denial never reveals existence.
 */
export function planRelease(
  entries: readonly RequestedEntry[],
  grants: Grants,
  storedNames: readonly string[],
): ReleasePlan {
  const names = new Map<string, { required: boolean; entry: string }>();
  const notGranted: string[] = [];
  const emptyPatterns: string[] = [];
  const want = (name: string, required: boolean, entry: string): void => {
    const existing = names.get(name);
    names.set(name, { required: required || (existing?.required ?? false), entry: existing?.entry ?? entry });
  };

  for (const entry of entries) {
    if (!entry.isPattern) {
      if (grants.isGranted(entry.target)) want(entry.target, !entry.optional, entry.raw);
      else if (!entry.optional) notGranted.push(entry.raw);
      continue;
    }
    const pattern = compileGlob(entry.target);
    const matches = storedNames.filter((name) => pattern.test(name) && grants.isGranted(name)).sort();
    for (const name of matches) want(name, false, entry.raw);
    if (matches.length > 0 || entry.optional) continue;
    // Nothing matched: "not found" if a matched rule grants the pattern's range, else "not granted".
    // A grant "covers" a pattern when it matches the pattern's own text: "prod/**" covers "prod/api/*".
    if (grants.isGranted(entry.target)) emptyPatterns.push(entry.raw);
    else notGranted.push(entry.raw);
  }
  return { names, notGranted, emptyPatterns };
}
