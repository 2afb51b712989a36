import { describe, expect, it } from 'vitest';
import { adminPath } from '../../src/cli/admin-client.js';

describe('adminPath', () => {
  it('encodes every segment on its own, so none can add a segment, a query or a fragment', () => {
    expect(adminPath('tokens', 'a/b?c#d %')).toBe('/tokens/a%2Fb%3Fc%23d%20%25');
    expect(adminPath('secrets', 'prod', 'api', 'DB_PASSWORD')).toBe('/secrets/prod/api/DB_PASSWORD');
  });

  it('refuses a segment a URL parser would remove or merge', () => {
    for (const segment of ['..', '.', '']) {
      expect(() => adminPath('secrets', 'a', segment)).toThrow(
        `an admin path segment cannot be ${JSON.stringify(segment)}`,
      );
    }
  });
});
