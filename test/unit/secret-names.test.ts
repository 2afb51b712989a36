import { describe, expect, it } from 'vitest';
import {
  parseRequestedEntry,
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
