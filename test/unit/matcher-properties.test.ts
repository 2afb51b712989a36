/** Property tests for the policy matchers and the wire schema (fast-check). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileClaimMatcher } from '../../src/broker/policy/matchers.js';
import { compileGlob } from '../../src/protocol/glob.js';
import { parseRequestedEntry, RequestedEntryError } from '../../src/protocol/secret-names.js';
import { exchangeRequestSchema } from '../../src/protocol/wire.js';

const segment = fc.stringMatching(/^[a-z0-9_.-]{1,8}$/);
const separator = fc.constantFrom('/', ':');

describe('glob properties', () => {
  it('"*" never matches a value that has "/" or ":" where the star stands', () => {
    fc.assert(
      fc.property(segment, segment, segment, separator, (prefix, left, right, sep) => {
        const glob = compileGlob(`${prefix}/*`);
        expect(glob.test(`${prefix}/${left}`)).toBe(true);
        expect(glob.test(`${prefix}/${left}${sep}${right}`)).toBe(false);
      }),
    );
  });

  it('"**" crosses "/" but never ":"', () => {
    fc.assert(
      fc.property(
        segment,
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        segment,
        (prefix, parts, tail) => {
          const glob = compileGlob(`${prefix}/**`);
          expect(glob.test(`${prefix}/${parts.join('/')}`)).toBe(true);
          expect(glob.test(`${prefix}/${parts.join('/')}:${tail}`)).toBe(false);
        },
      ),
    );
  });

  it('a string without glob characters matches exactly itself', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }).filter((text) => !/[*?[\]{}\\]/.test(text)),
        fc.string({ maxLength: 20 }),
        (pattern, other) => {
          const glob = compileGlob(pattern);
          expect(glob.test(pattern)).toBe(true);
          expect(glob.test(other)).toBe(other === pattern);
        },
      ),
    );
  });
});

/** Random matcher specs as the policy YAML would hold them (strings, lists, regex, not). */
const matcherSpec: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  spec: fc.oneof(
    { depthSize: 'small' },
    fc.stringMatching(/^[a-c]{1,3}\*?$/),
    fc.array(tie('spec'), { minLength: 1, maxLength: 3 }),
    fc.record({ regex: fc.constantFrom('a.*', '[ab]+', 'c', 'a|b') }),
    fc.record({ not: tie('spec') }),
  ),
})).spec;
const claimValues = fc.array(fc.stringMatching(/^[a-c]{0,4}$/), { minLength: 1, maxLength: 3 });

describe('claim matcher properties', () => {
  it('{not: M} is exactly the inverse of M over the same values', () => {
    fc.assert(
      fc.property(matcherSpec, claimValues, (spec, values) => {
        const matcher = compileClaimMatcher(spec);
        const negated = compileClaimMatcher({ not: spec });
        expect(negated.matches(values)).toBe(!matcher.matches(values));
      }),
    );
  });

  it('a list matches exactly when one of its members matches', () => {
    fc.assert(
      fc.property(fc.array(matcherSpec, { minLength: 1, maxLength: 4 }), claimValues, (members, values) => {
        const list = compileClaimMatcher(members);
        expect(list.matches(values)).toBe(
          members.some((member) => compileClaimMatcher(member).matches(values)),
        );
      }),
    );
  });

  it('a plain or glob matcher over an array claim matches when any element does', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-c]{1,3}\*?$/), claimValues, (spec, values) => {
        const matcher = compileClaimMatcher(spec);
        expect(matcher.matches(values)).toBe(values.some((value) => matcher.matches([value])));
      }),
    );
  });

  it('regexes are anchored: a match is always of the whole value', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-c]{1,4}$/),
        fc.stringMatching(/^[a-c]{1,3}$/),
        fc.stringMatching(/^[a-c]{1,3}$/),
        (core, before, after) => {
          const matcher = compileClaimMatcher({ regex: core });
          expect(matcher.matches([core])).toBe(true);
          expect(matcher.matches([`${before}${core}`])).toBe(false);
          expect(matcher.matches([`${core}${after}`])).toBe(false);
        },
      ),
    );
  });
});

describe('wire schema properties', () => {
  it('accepts exactly the bodies of the contract shape and never throws', () => {
    fc.assert(
      fc.property(fc.anything(), (body) => {
        const parsed = exchangeRequestSchema.safeParse(body);
        if (parsed.success) {
          expect(Buffer.from(parsed.data.recipient, 'base64')).toHaveLength(32);
          expect(parsed.data.secrets.length).toBeGreaterThan(0);
          expect(Object.keys(body as object).sort()).toEqual(['recipient', 'secrets']);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a recipient is accepted only as standard base64 of exactly 32 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (bytes) => {
        const recipient = Buffer.from(bytes).toString('base64');
        const parsed = exchangeRequestSchema.safeParse({ recipient, secrets: ['a'] });
        expect(parsed.success).toBe(bytes.length === 32);
        // base64url (no padding) is never the contract's encoding.
        expect(
          exchangeRequestSchema.safeParse({
            recipient: Buffer.from(bytes).toString('base64url'),
            secrets: ['a'],
          }).success,
        ).toBe(false);
      }),
    );
  });

  it('requested entries either parse into a valid name or pattern, or fail with the entry named', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (raw) => {
        try {
          const entry = parseRequestedEntry(raw);
          expect(entry.raw).toBe(raw);
          expect(entry.target.split('/').every((part) => part !== '' && part !== '.' && part !== '..')).toBe(
            true,
          );
        } catch (error) {
          expect(error).toBeInstanceOf(RequestedEntryError);
          expect((error as Error).message.startsWith(JSON.stringify(raw))).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
