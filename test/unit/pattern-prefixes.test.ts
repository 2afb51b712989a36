/** What a pattern request reads from the store: only the names under the patterns' and grants' prefixes. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { namePrefixesToRead, planRelease } from '../../src/broker/exchange/release-plan.js';
import type { Grants } from '../../src/broker/policy/evaluate.js';
import { compileGlob } from '../../src/protocol/glob.js';
import { parseRequestedEntry } from '../../src/protocol/secret-names.js';
import { grantsOf } from '../helpers/grants.js';

/** Segments over two letters, so random globs and names often meet. */
const segmentPart = fc.constantFrom('a', 'b', 'ab', 'ba', '*', '?', '[ab]', '[!a]', '{a,b}', '{a,ab}');
const globSegment = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.array(segmentPart, { minLength: 1, maxLength: 2 }).map((parts) => parts.join('')),
  },
  { weight: 1, arbitrary: fc.constant('**') },
);
const glob = fc.array(globSegment, { minLength: 1, maxLength: 3 }).map((segments) => segments.join('/'));
const name = fc
  .array(fc.stringMatching(/^[ab]{1,3}$/), { minLength: 1, maxLength: 4 })
  .map((segments) => segments.join('/'));

/** Globs that match `base`: each segment kept, or replaced by a wildcard, a class or a choice that matches it. */
function generalized(base: string): fc.Arbitrary<string> {
  const segments = base
    .split('/')
    .map((segment) =>
      fc.constantFrom(
        segment,
        '*',
        '**',
        `?${segment.slice(1)}`,
        `[ab]${segment.slice(1)}`,
        `${segment.slice(0, 1)}*`,
        `{${segment},b}`,
      ),
    );
  return fc.tuple(...segments).map((parts) => parts.join('/'));
}

/** Stored names, one of them `base`, with a pattern and grants that often match it. */
const related = name.chain((base) =>
  fc.record({
    names: fc.array(name, { maxLength: 20 }).map((others) => [base, ...others]),
    pattern: fc.oneof(generalized(base), glob),
    grants: fc.array(fc.oneof(generalized(base), glob), { minLength: 1, maxLength: 3 }),
  }),
);

/** The grants of one rule granting `secrets`, or undefined for a random grant the policy refuses. */
function grantsOrRefused(secrets: readonly string[]): Grants | undefined {
  try {
    return grantsOf(secrets);
  } catch {
    return undefined; // such as "**" inside a segment
  }
}

/** A store that answers only the names under the prefixes it is asked for, and keeps what it was asked. */
function rangedStore(stored: readonly string[]) {
  const asked: (readonly string[])[] = [];
  const read: string[] = [];
  const storedNames = (prefixes: readonly string[]) => {
    asked.push(prefixes);
    const names = stored.filter((stored) => prefixes.some((prefix) => stored.startsWith(prefix)));
    read.push(...names);
    return Promise.resolve(names);
  };
  return { asked, read, storedNames };
}

describe('the name prefixes a pattern request reads', () => {
  it('hold every name that a pattern and a grant both match', () => {
    fc.assert(
      fc.property(related, ({ names, pattern, grants }) => {
        const requested = compileGlob(pattern);
        const granted = grants.map((grant) => compileGlob(grant));
        const prefixes = namePrefixesToRead(
          [requested],
          granted.map((grant) => grant.literalPrefix),
        );
        for (const candidate of names.filter(
          (candidate) => requested.test(candidate) && granted.some((grant) => grant.test(candidate)),
        )) {
          expect(prefixes.some((prefix) => candidate.startsWith(prefix))).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('take the longer prefix of a pattern and a grant, and none when they conflict', () => {
    const prefixesFor = (patterns: string[], grants: string[]) =>
      namePrefixesToRead(
        patterns.map((pattern) => compileGlob(pattern)),
        grants.map((grant) => compileGlob(grant).literalPrefix),
      );
    expect(prefixesFor(['prod/db/*'], ['prod/**'])).toEqual(['prod/db/']);
    expect(prefixesFor(['*/*'], ['prod/**', 'shared/A'])).toEqual(['prod/', 'shared/A']);
    expect(prefixesFor(['prod/db/*'], ['shared/**', 'staging/*'])).toEqual([]);
    expect(prefixesFor(['**'], ['*'])).toEqual(['']);
    expect(prefixesFor(['prod/*', 'prod/db/*'], ['prod/db/**'])).toEqual(['prod/db/']);
  });

  it('give the same plan as reading every stored name', async () => {
    await fc.assert(
      fc.asyncProperty(
        related,
        fc.array(fc.oneof(glob, name), { maxLength: 2 }),
        async ({ names: stored, pattern, grants: grantList }, others) => {
          const grants = grantsOrRefused(grantList);
          fc.pre(grants !== undefined);
          const entries = [pattern, ...others].flatMap((entry) => {
            try {
              return [parseRequestedEntry(`${entry}?`)];
            } catch {
              return []; // a random glob a request may not send
            }
          });
          const ranged = rangedStore(stored);
          const everything = () => Promise.resolve(stored);
          expect(await planRelease(entries, grants as Grants, ranged.storedNames)).toEqual(
            await planRelease(entries, grants as Grants, everything),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads only the names under the requested prefix, however many others are stored', async () => {
    const grants = grantsOf(['prod/**', 'shared/A']);
    const others = Array.from({ length: 1000 }, (_, index) => `prod/svc${index}/KEY`);
    const wanted = ['prod/db/A', 'prod/db/B', 'prod/db/x/C'];
    const store = rangedStore([...others, ...wanted, 'prod/dbx/Z', 'shared/A', 'shared/B']);
    const plan = await planRelease(['prod/db/*'].map(parseRequestedEntry), grants, store.storedNames);
    expect([...plan.names.keys()]).toEqual(['prod/db/A', 'prod/db/B']);
    expect(store.asked).toEqual([['prod/db/']]);
    expect(store.read).toEqual(wanted);
  });

  it('reads under the grants when the pattern starts with a wildcard', async () => {
    const grants = grantsOf(['prod/db/**', 'shared/A']);
    const store = rangedStore(['other/A', 'prod/api/A', 'prod/db/A', 'shared/A', 'shared/AB']);
    const plan = await planRelease(['**'].map(parseRequestedEntry), grants, store.storedNames);
    expect([...plan.names.keys()]).toEqual(['prod/db/A', 'shared/A']);
    expect(store.asked).toEqual([['prod/db/', 'shared/A']]);
    expect(store.read).toEqual(['prod/db/A', 'shared/A', 'shared/AB']);
  });
});
