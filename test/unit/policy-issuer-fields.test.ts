/** The issuer fields of issue 18 at policy load: audience per issuer, key_binding, GitHub's default audience refused. */
import { describe, expect, it } from 'vitest';
import { parsePolicy, PolicyError } from '../../src/broker/policy/load-policy.js';

const policy = (top: string, issuerLines: string) => `version: 1
audience: ${top}
issuers:
  github:
    url: https://token.actions.githubusercontent.com
${issuerLines}
rules: []
`;

function problems(text: string): string[] {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (error) {
    if (error instanceof PolicyError)
      return error.problems.map((problem) => `${problem.line}: ${problem.message}`);
    throw error;
  }
  return [];
}

describe('issuer audience and key_binding', () => {
  it('defaults: the top-level audience, key_binding optional, keys discovered', () => {
    const compiled = parsePolicy(policy('https://secrets.example.com', ''), 'policy.yaml');
    expect(compiled.issuers.get('github')).toMatchObject({
      audience: 'https://secrets.example.com',
      keyBinding: 'optional',
      pinnedKeys: undefined,
    });
  });

  it('takes an audience and key_binding per issuer', () => {
    const compiled = parsePolicy(
      policy('https://secrets.example.com', '    audience: ghes-broker\n    key_binding: required'),
      'policy.yaml',
    );
    expect(compiled.audience).toBe('https://secrets.example.com');
    expect(compiled.issuers.get('github')).toMatchObject({ audience: 'ghes-broker', keyBinding: 'required' });
  });

  it("refuses GitHub's default audience, top-level or per issuer, in any spelling, with the line", () => {
    for (const text of [
      policy('https://github.com/acme', ''),
      policy('HTTPS://GitHub.com/acme/', ''),
      policy('https://secrets.example.com', '    audience: https://github.com/acme'),
    ]) {
      const found = problems(text);
      expect(found, text).toHaveLength(1);
      expect(found[0]).toMatch(/GitHub's default audience/);
      expect(found[0]).toMatch(/choose an audience only this broker uses/);
    }
    expect(problems(policy('https://github.example.com/acme', ''))).toEqual([]);
  });

  it("refuses a GitHub Enterprise Server's default audience (https://HOST/OWNER) when the policy trusts that server", () => {
    const ghes = (audience: string) => `version: 1
audience: ${audience}
issuers:
  ghes:
    url: https://ghes.example.com/_services/token
rules: []
`;
    expect(problems(ghes('https://ghes.example.com/acme'))[0]).toMatch(/GitHub's default audience/);
    expect(problems(ghes('https://GHES.example.com/acme/'))[0]).toMatch(/GitHub's default audience/);
    expect(problems(ghes('https://ghes.example.com/secrets/broker'))).toEqual([]);
    expect(problems(ghes('https://secrets.example.com'))).toEqual([]);
  });

  it('refuses an unknown key_binding and an empty audience, naming the line', () => {
    expect(problems(policy('https://s.example', '    key_binding: always'))).toEqual([
      '6: must be required, optional or off; got "always"',
    ]);
    expect(problems(policy('https://s.example', "    audience: ''"))[0]).toMatch(
      /^6: the audience must not be empty/,
    );
  });
});
