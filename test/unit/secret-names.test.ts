import { describe, expect, it } from 'vitest';
import {
  parseRequestedEntry,
  MAX_ENTRY_LENGTH,
  MAX_VERSION,
  RequestedEntryError,
  secretNameProblem,
} from '../../src/protocol/secret-names.js';

describe('secret names', () => {
  it('accepts segments of [A-Za-z0-9_.-] joined by "/"', () => {
    for (const name of ['DB_PASSWORD', 'prod/api/db-password', 'a.b/c_d/E-1', 'x'.repeat(256)]) {
      expect(secretNameProblem(name)).toBeUndefined();
    }
  });

  it('refuses empty, ".", ".." and odd segments, other characters and long names', () => {
    expect(secretNameProblem('')).toBe('the name is empty');
    expect(secretNameProblem('/a')).toContain('empty segment');
    expect(secretNameProblem('a//b')).toContain('empty segment');
    expect(secretNameProblem('a/')).toContain('empty segment');
    expect(secretNameProblem('a/./b')).toContain('"." segment');
    expect(secretNameProblem('a/../b')).toContain('".." segment');
    expect(secretNameProblem('a b')).toContain('"a b"');
    expect(secretNameProblem('a%2Fb')).toContain('"a%2Fb"');
    expect(secretNameProblem('café')).toBeDefined();
    expect(secretNameProblem('x'.repeat(257))).toContain('limit is 256');
  });
});

describe('requested entries', () => {
  it('parses names, patterns and the optional marker', () => {
    expect(parseRequestedEntry('prod/api/DB')).toMatchObject({
      raw: 'prod/api/DB',
      target: 'prod/api/DB',
      optional: false,
      isPattern: false,
    });
    expect(parseRequestedEntry('prod/api/DB?').glob.literal).toBe('prod/api/DB');
    expect(parseRequestedEntry('prod/*').glob.literal).toBeUndefined();
    expect(parseRequestedEntry('prod/api/DB?')).toMatchObject({
      raw: 'prod/api/DB?',
      target: 'prod/api/DB',
      optional: true,
      isPattern: false,
    });
    expect(parseRequestedEntry('prod/*')).toMatchObject({
      target: 'prod/*',
      optional: false,
      isPattern: true,
    });
    expect(parseRequestedEntry('prod/*?')).toMatchObject({
      target: 'prod/*',
      optional: true,
      isPattern: true,
    });
  });

  it('refuses bad names and patterns with the entry in the message', () => {
    expect(() => parseRequestedEntry('../x')).toThrow(RequestedEntryError);
    expect(() => parseRequestedEntry('../x')).toThrow('"../x"');
    expect(() => parseRequestedEntry('prod/{a')).toThrow(/closing/);
    expect(() => parseRequestedEntry('prod/a b*')).toThrow(/neither a name character nor a glob/);
    expect(() => parseRequestedEntry('?')).toThrow(/empty/);
  });
});

describe('versions and alternatives in entries', () => {
  it('parses NAME@N, a|b and both, optional as a whole', () => {
    expect(parseRequestedEntry('prod/DB@3').alternatives).toEqual([{ name: 'prod/DB', version: 3 }]);
    expect(parseRequestedEntry('prod/DB').alternatives).toEqual([{ name: 'prod/DB', version: undefined }]);
    expect(parseRequestedEntry('prod/*').alternatives).toEqual([]);
    const entry = parseRequestedEntry('prod/api/DB|shared/DB@2?');
    expect(entry).toMatchObject({ optional: true, isPattern: false, target: 'prod/api/DB|shared/DB@2' });
    expect(entry.alternatives).toEqual([
      { name: 'prod/api/DB', version: undefined },
      { name: 'shared/DB', version: 2 },
    ]);
    expect(entry.glob.literal).toBe('prod/api/DB');
    expect(parseRequestedEntry(`A@${MAX_VERSION}`).alternatives[0]?.version).toBe(MAX_VERSION);
  });

  it.each([
    ['A@', /nothing follows "@"/],
    ['A@0', /versions start at 1/],
    ['A@-1', /not a version/],
    ['A@01', /not a version/],
    ['A@1.5', /not a version/],
    ['A@1e3', /not a version/],
    [`A@${MAX_VERSION + 1}`, /not a version/],
    ['A@3@4', /not a version/],
    ['@3', /name is empty/],
    ['prod/*@3', /is a pattern/],
    ['a||b', /alternative 2 is empty/],
    ['|a', /alternative 1 is empty/],
    ['a|', /alternative 2 is empty/],
    ['|', /alternative 1 is empty/],
    ['a|prod/*', /alternative 2: "prod\/\*" is a pattern/],
    ['a|a', /twice/],
    ['a|../b', /alternative 2: .*".." segment/],
    [Array.from({ length: 100 }, (_, index) => `s${index}`).join('|'), /100 alternatives; the limit is 10/],
    ['x'.repeat(MAX_ENTRY_LENGTH + 1), /the limit is/],
  ])('refuses %j with a clear message', (raw, message) => {
    expect(() => parseRequestedEntry(raw)).toThrow(RequestedEntryError);
    expect(() => parseRequestedEntry(raw)).toThrow(message);
  });
});
