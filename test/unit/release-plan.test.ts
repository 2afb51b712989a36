import { describe, expect, it } from 'vitest';
import { planRelease } from '../../src/broker/exchange/release-plan.js';
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
