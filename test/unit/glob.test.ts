import { describe, expect, it } from 'vitest';
import { compileGlob, GlobSyntaxError, hasGlobCharacters } from '../../src/protocol/glob.js';

const matches = (pattern: string, value: string): boolean => compileGlob(pattern).test(value);

describe('glob', () => {
  it('"*" matches within one segment and never crosses "/" or ":"', () => {
    expect(matches('refs/heads/*', 'refs/heads/main')).toBe(true);
    expect(matches('refs/heads/*', 'refs/heads/')).toBe(true);
    expect(matches('refs/heads/*', 'refs/heads/feature/x')).toBe(false);
    expect(matches('repo:acme/*', 'repo:acme/api')).toBe(true);
    expect(matches('repo:acme/*', 'repo:acme/api:ref:refs/heads/main')).toBe(false);
    expect(matches('repo:acme/*:ref:refs/heads/main', 'repo:acme/api:ref:refs/heads/main')).toBe(true);
  });

  it('"**" crosses "/" but not ":"', () => {
    expect(matches('refs/heads/**', 'refs/heads/feature/x/y')).toBe(true);
    expect(matches('prod/**', 'prod/api/db/PASSWORD')).toBe(true);
    expect(matches('prod/**/KEY', 'prod/KEY')).toBe(true);
    expect(matches('prod/**/KEY', 'prod/a/b/KEY')).toBe(true);
    expect(matches('repo:acme/**', 'repo:acme/api:ref:refs/heads/main')).toBe(false);
  });

  it('"?" is one character other than "/" and ":"', () => {
    expect(matches('v?', 'v1')).toBe(true);
    expect(matches('v?', 'v12')).toBe(false);
    expect(matches('a?b', 'a/b')).toBe(false);
    expect(matches('a?b', 'a:b')).toBe(false);
  });

  it('classes and negated classes (which never match a separator)', () => {
    expect(matches('v[0-9]', 'v7')).toBe(true);
    expect(matches('v[0-9]', 'vx')).toBe(false);
    expect(matches('v[!0-9]', 'vx')).toBe(true);
    expect(matches('v[!0-9]', 'v/')).toBe(false);
    expect(matches('v[^0-9]', 'v:')).toBe(false);
    expect(matches('[]]', ']')).toBe(true);
  });

  it('braces are alternatives and may hold globs', () => {
    expect(matches('refs/{heads,tags}/v*', 'refs/tags/v1.2')).toBe(true);
    expect(matches('refs/{heads,tags}/v*', 'refs/pull/v1')).toBe(false);
    expect(matches('{a,b{c,d}}', 'bd')).toBe(true);
    expect(matches('x{,y}', 'x')).toBe(true);
  });

  it('matches the whole value, literal characters literally, and honours escapes', () => {
    expect(matches('a.b', 'a.b')).toBe(true);
    expect(matches('a.b', 'axb')).toBe(false);
    expect(matches('main', 'main-2')).toBe(false);
    expect(matches('(x)+', '(x)+')).toBe(true);
    expect(matches('a\\*b', 'a*b')).toBe(true);
    expect(matches('a\\*b', 'axb')).toBe(false);
    expect(matches('a-b', 'a-b')).toBe(true);
  });

  it('reports unterminated classes, braces and trailing escapes', () => {
    expect(() => compileGlob('v[0-9')).toThrow(GlobSyntaxError);
    expect(() => compileGlob('{a,b')).toThrow(/without its closing "}"/);
    expect(() => compileGlob('a\\')).toThrow(/lone/);
  });

  it('tells globs from plain strings', () => {
    expect(hasGlobCharacters('refs/heads/main')).toBe(false);
    for (const pattern of ['a*', 'a?', 'a[b]', 'a{b,c}']) expect(hasGlobCharacters(pattern)).toBe(true);
  });
});
