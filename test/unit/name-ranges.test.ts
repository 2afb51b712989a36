/** The byte-order ranges a store reads for a set of name prefixes (fast-check). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nameRanges, type NameRange } from '../../src/broker/sql/name-ranges.js';

/** Names and prefixes over a few name characters, including the lowest ("-") and highest ("z") and "/". */
const text = (maxLength: number) => fc.stringMatching(new RegExp(`^[-./09AZ_az]{0,${maxLength}}$`));

/** JavaScript compares strings by UTF-16 code units: for ASCII that is the byte order both stores use. */
const inRange = (name: string, { from, to }: NameRange) => name >= from && (to === undefined || name < to);

describe('name ranges', () => {
  it('hold exactly the names that start with one of the prefixes', () => {
    fc.assert(
      fc.property(
        fc.array(text(4), { maxLength: 5 }),
        fc.array(text(6), { maxLength: 30 }),
        (prefixes, names) => {
          const ranges = nameRanges(prefixes);
          for (const name of names) {
            const wanted = prefixes.some((prefix) => name.startsWith(prefix));
            expect(ranges.some((range) => inRange(name, range))).toBe(wanted);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('are sorted and disjoint, so each name is read once', () => {
    fc.assert(
      fc.property(fc.array(text(4), { maxLength: 8 }), (prefixes) => {
        const ranges = nameRanges(prefixes);
        ranges.slice(1).forEach((range, index) => {
          const before = ranges[index] as NameRange;
          expect(before.to).toBeDefined();
          expect(before.to! <= range.from).toBe(true);
        });
      }),
    );
  });

  it('bound a prefix by its last character one higher, and leave the empty prefix unbounded', () => {
    expect(nameRanges(['prod/db/'])).toEqual([{ from: 'prod/db/', to: 'prod/db0' }]);
    expect(nameRanges(['prod/zz'])).toEqual([{ from: 'prod/zz', to: 'prod/z{' }]);
    expect(nameRanges(['prod/', 'prod/db/', 'shared/A', ''])).toEqual([{ from: '', to: undefined }]);
    expect(nameRanges(['prod/db/', 'prod/', 'shared/A', 'shared/A'])).toEqual([
      { from: 'prod/', to: 'prod0' },
      { from: 'shared/A', to: 'shared/B' },
    ]);
  });

  it('read nothing for no prefix, or for a prefix no secret name can start with', () => {
    expect(nameRanges([])).toEqual([]);
    expect(nameRanges(['prod/\u00e9', 'prod/\u0000', 'prod/\ud83d'])).toEqual([]);
  });
});
