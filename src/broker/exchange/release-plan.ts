import type { Meter } from '../../protocol/automaton.js';
import type { Glob } from '../../protocol/glob.js';
import type { RequestedEntry, SecretReference } from '../../protocol/secret-names.js';
import type { UsedAlternative } from '../audit/audit-records.js';
import type { Grants } from '../policy/evaluate.js';

/**
 * An entry that names a version (`NAME@3`) or alternatives (`a|b`): decided once the store is read, when the
 * first of its granted alternatives that is stored wins.
 */
export interface Choice {
  readonly entry: string;
  readonly required: boolean;
  /** The entry's granted alternatives, in the order written (at least one). */
  readonly granted: readonly SecretReference[];
  /** Whether the entry lists alternatives (its choice is audited). */
  readonly isFallback: boolean;
}

export interface ReleasePlan {
  /**
   * Granted names to read at their current version, in request order (plain names, and the names patterns
   * expanded to); `required` when a non-optional exact entry asked for it.
   */
  readonly names: ReadonlyMap<string, { readonly required: boolean; readonly entry: string }>;
  /** Granted entries with a version or alternatives, in request order. */
  readonly choices: readonly Choice[];
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
  const choices: Choice[] = [];
  const notGranted: string[] = [];
  const emptyPatterns: string[] = [];
  const want = (name: string, required: boolean, entry: string): void => {
    const existing = names.get(name);
    names.set(name, { required: required || (existing?.required ?? false), entry: existing?.entry ?? entry });
  };

  const grantedPatterns: RequestedEntry[] = [];
  for (const entry of entries) {
    const [only, ...others] = entry.alternatives;
    if (only !== undefined && only.version === undefined && others.length === 0) {
      if (grants.isGranted(only.name)) want(only.name, !entry.optional, entry.raw);
      else if (!entry.optional) notGranted.push(entry.raw);
    } else if (!entry.isPattern) {
      // The policy grants names; a version follows its name. Alternatives not granted are never looked up.
      const granted = entry.alternatives.filter((reference) => grants.isGranted(reference.name));
      const isFallback = entry.alternatives.length > 1;
      if (granted.length > 0)
        choices.push({ entry: entry.raw, required: !entry.optional, granted, isFallback });
      else if (!entry.optional) notGranted.push(entry.raw);
    } else if (grants.overlaps(entry.glob)) {
      grantedPatterns.push(entry);
    } else if (!entry.optional) {
      notGranted.push(entry.raw);
    }
  }
  if (grantedPatterns.length === 0) return { names, choices, notGranted, emptyPatterns, tooWide: [] };

  // Only the names under the patterns' and grants' prefixes are read: a superset, so granted first (the admin's
  // globs), then the requested pattern, each name at most once per pattern.
  const prefixes = namePrefixesToRead(
    grantedPatterns.map((entry) => entry.glob),
    grants.namePrefixes,
  );
  const read = await storedNames(prefixes, MAX_NAMES_READ + 1);
  if (read.length > MAX_NAMES_READ)
    return { names, choices, notGranted, emptyPatterns, tooWide: grantedPatterns.map((entry) => entry.raw) };
  const granted = read.filter((name) => grants.isGranted(name));
  for (const entry of grantedPatterns) {
    const matches = granted.filter((name) => entry.glob.test(name, meter)).sort();
    for (const name of matches) want(name, false, entry.raw);
    if (matches.length === 0 && !entry.optional) emptyPatterns.push(entry.raw);
  }
  return { names, choices, notGranted, emptyPatterns, tooWide: [] };
}

/** Every stored version the plan may release, each once: the names at their current version, then the choices'. */
export function referencesToFind(plan: ReleasePlan): SecretReference[] {
  const references = new Map<string, SecretReference>();
  for (const name of plan.names.keys())
    references.set(referenceText({ name, version: undefined }), { name, version: undefined });
  for (const choice of plan.choices)
    for (const reference of choice.granted) references.set(referenceText(reference), reference);
  return [...references.values()];
}

/** `NAME` for the current version, `NAME@N` for version N: as a request writes it. */
export function referenceText(reference: SecretReference): string {
  return reference.version === undefined ? reference.name : `${reference.name}@${reference.version}`;
}

/** What the store holds for a reference: one version of a name, and whether it is the current one. */
export interface StoredVersion {
  readonly name: string;
  readonly version: number;
  readonly isCurrent: boolean;
}

export interface Resolution<Stored extends StoredVersion> {
  /** What the request releases, each stored version once, in request order. */
  readonly release: readonly Stored[];
  /** Required entries granted but not stored (no granted alternative stored), then required empty patterns. */
  readonly notFound: readonly string[];
  /** Each entry with alternatives and the one it released. */
  readonly fallbacks: readonly UsedAlternative[];
}

/** The plan decided on what the store holds: the first granted alternative stored wins each choice. */
export function resolveRelease<Stored extends StoredVersion>(
  plan: ReleasePlan,
  found: readonly Stored[],
): Resolution<Stored> {
  const byReference = new Map<string, Stored>();
  for (const stored of found) {
    byReference.set(referenceText(stored), stored);
    if (stored.isCurrent) byReference.set(stored.name, stored);
  }
  const release = new Map<string, Stored>();
  const add = (stored: Stored): void => void release.set(referenceText(stored), stored);
  const notFound: string[] = [];
  for (const [name, wanted] of plan.names) {
    const stored = byReference.get(name);
    if (stored !== undefined) add(stored);
    else if (wanted.required) notFound.push(wanted.entry);
  }
  const fallbacks: UsedAlternative[] = [];
  for (const choice of plan.choices) {
    const used = choice.granted.find((reference) => byReference.has(referenceText(reference)));
    if (used !== undefined) add(byReference.get(referenceText(used)) as Stored);
    else if (choice.required) notFound.push(choice.entry);
    if (choice.isFallback)
      fallbacks.push({ entry: choice.entry, used: used === undefined ? null : referenceText(used) });
  }
  return { release: [...release.values()], notFound: [...notFound, ...plan.emptyPatterns], fallbacks };
}
