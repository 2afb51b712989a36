import { describe, expect, it } from 'vitest';
import { planRelease, referencesToFind, resolveRelease } from '../../src/broker/exchange/release-plan.js';
import { parseRequestedEntry } from '../../src/protocol/secret-names.js';
import { grantsOf } from '../helpers/grants.js';

const grants = grantsOf(['prod/**', 'shared/A']);
const stored = ['prod/a/X', 'prod/a/Y', 'prod/b/Z', 'shared/A', 'shared/B'];
let storeReads = 0;
const plan = (...entries: string[]) =>
  planRelease(entries.map(parseRequestedEntry), grants, () => {
    storeReads += 1;
    return Promise.resolve(stored);
  });

describe('release plan', async () => {
  it('keeps exact granted names (stored or not) and marks which are required', async () => {
    const result = await plan('prod/a/X', 'prod/missing', 'shared/A?');
    expect([...result.names]).toEqual([
      ['prod/a/X', { required: true, entry: 'prod/a/X' }],
      ['prod/missing', { required: true, entry: 'prod/missing' }],
      ['shared/A', { required: false, entry: 'shared/A?' }],
    ]);
    expect(result.notGranted).toEqual([]);
  });

  it('expands a pattern only to granted stored names, sorted', async () => {
    expect([...(await plan('*/*')).names.keys()]).toEqual(['shared/A']);
    expect([...(await plan('prod/a/*')).names.keys()]).toEqual(['prod/a/X', 'prod/a/Y']);
    expect([...(await plan('prod/**')).names.keys()]).toEqual(['prod/a/X', 'prod/a/Y', 'prod/b/Z']);
  });

  it('lists ungranted non-optional entries and ignores optional ones', async () => {
    expect((await plan('shared/B', 'shared/B?', 'other/*', 'other/*?')).notGranted).toEqual([
      'shared/B',
      'other/*',
    ]);
  });

  it('calls an empty pattern inside a grant "not found", and one outside "not granted"', async () => {
    const result = await plan('prod/c/*', 'other/*');
    expect(result.emptyPatterns).toEqual(['prod/c/*']);
    expect(result.notGranted).toEqual(['other/*']);
  });

  it('decides a pattern that overlaps no grant without reading a stored name', async () => {
    storeReads = 0;
    const hostile = `other/${'**'.repeat(22)}Z`;
    const result = await plan('other/*', hostile, 'shared/B');
    expect(result.notGranted).toEqual(['other/*', hostile, 'shared/B']);
    expect(storeReads).toBe(0);
    await plan('prod/*/X');
    expect(storeReads).toBe(1);
  });

  it('a pattern that only partly overlaps a grant expands to the granted part', async () => {
    expect([...(await plan('*/*/*')).names.keys()]).toEqual(['prod/a/X', 'prod/a/Y', 'prod/b/Z']);
    expect([...(await plan('{prod,shared}/*')).names.keys()]).toEqual(['shared/A']);
  });

  it('a name asked for both optionally and not stays required', async () => {
    expect((await plan('prod/a/X?', 'prod/a/X')).names.get('prod/a/X')).toEqual({
      required: true,
      entry: 'prod/a/X?',
    });
  });
});

describe('versions and alternatives', () => {
  const stored = (name: string, version: number, isCurrent: boolean) => ({ name, version, isCurrent });

  it('plans a version or alternatives as a choice among the granted alternatives, in the order written', async () => {
    const result = await plan(
      'prod/a/X@2',
      'other/A|prod/a/Y|shared/A',
      'other/A|other/B',
      'other/A|shared/B?',
    );
    expect(result.choices).toEqual([
      {
        entry: 'prod/a/X@2',
        required: true,
        granted: [{ name: 'prod/a/X', version: 2 }],
        isFallback: false,
      },
      {
        entry: 'other/A|prod/a/Y|shared/A',
        required: true,
        granted: [
          { name: 'prod/a/Y', version: undefined },
          { name: 'shared/A', version: undefined },
        ],
        isFallback: true,
      },
    ]);
    expect(result.notGranted).toEqual(['other/A|other/B']);
    expect([...result.names.keys()]).toEqual([]);
  });

  it('looks up each granted reference once, and never an ungranted one', async () => {
    const result = await plan('prod/a/X', 'prod/a/X@1', 'other/A|prod/a/X', 'prod/a/X@1?');
    expect(referencesToFind(result)).toEqual([
      { name: 'prod/a/X', version: undefined },
      { name: 'prod/a/X', version: 1 },
    ]);
  });

  it('releases the first granted alternative that is stored, and says which one was used', async () => {
    const result = await plan('prod/a/Y|shared/A', 'prod/a/Z|shared/A?');
    const resolved = resolveRelease(result, [stored('shared/A', 4, true)]);
    expect(resolved.release).toEqual([stored('shared/A', 4, true)]);
    expect(resolved.notFound).toEqual([]);
    expect(resolved.fallbacks).toEqual([
      { entry: 'prod/a/Y|shared/A', used: 'shared/A' },
      { entry: 'prod/a/Z|shared/A?', used: 'shared/A' },
    ]);
    const first = resolveRelease(result, [stored('prod/a/Y', 1, true), stored('shared/A', 4, true)]);
    expect(first.release.map((secret) => secret.name)).toEqual(['prod/a/Y', 'shared/A']);
    expect(first.fallbacks[0]).toEqual({ entry: 'prod/a/Y|shared/A', used: 'prod/a/Y' });
  });

  it('calls a choice with nothing stored "not found" unless it is optional', async () => {
    const result = await plan('prod/a/Y|shared/A', 'prod/a/X@3', 'prod/a/Z|shared/A?');
    const resolved = resolveRelease(result, []);
    expect(resolved.notFound).toEqual(['prod/a/Y|shared/A', 'prod/a/X@3']);
    expect(resolved.fallbacks).toEqual([
      { entry: 'prod/a/Y|shared/A', used: null },
      { entry: 'prod/a/Z|shared/A?', used: null },
    ]);
  });

  it('releases a version asked for by number and as the current one once', async () => {
    const result = await plan('prod/a/X', 'prod/a/X@3', 'prod/a/X@1');
    const resolved = resolveRelease(result, [stored('prod/a/X', 3, true), stored('prod/a/X', 1, false)]);
    expect(resolved.release).toEqual([stored('prod/a/X', 3, true), stored('prod/a/X', 1, false)]);
  });

  it('does not take an old version for the current one', async () => {
    const resolved = resolveRelease(await plan('prod/a/X'), [stored('prod/a/X', 1, false)]);
    expect(resolved.release).toEqual([]);
    expect(resolved.notFound).toEqual(['prod/a/X']);
  });
});
