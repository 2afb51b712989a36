import { describe, expect, it } from 'vitest';
import { deriveEnvName, envNameProblem } from '../../src/client/env-names.js';
import { ExportPlanError, planExports } from '../../src/client/export-plan.js';
import { InputError, parseInputs, parseSecretLines } from '../../src/action/inputs.js';
import { maskForms } from '../../src/action/masking.js';
import { redactionPatterns } from '../../src/client/redactor.js';

const inputsFrom = (values: Record<string, string>) => (name: string) => values[name] ?? '';

describe('secrets input', () => {
  it('parses every line form and skips blanks and comments', () => {
    const lines = parseSecretLines(
      '# comment\nprod/api/DB_PASSWORD\n\n  API_TOKEN=prod/api/token \nKUBECONFIG=@prod/k8s/config\nprod/shared/*\nprod/api/OPTIONAL?\n',
    );
    expect(lines.map((line) => [line.lineNumber, line.entry.raw, line.envName, line.toFile])).toEqual([
      [2, 'prod/api/DB_PASSWORD', undefined, false],
      [4, 'prod/api/token', 'API_TOKEN', false],
      [5, 'prod/k8s/config', 'KUBECONFIG', true],
      [6, 'prod/shared/*', undefined, false],
      [7, 'prod/api/OPTIONAL?', undefined, false],
    ]);
    expect(lines[4]!.entry.optional).toBe(true);
  });

  it('reports every bad line with its number', () => {
    expect(() => parseSecretLines('ok/name\n9X=prod/a\n@prod/b\nX=prod/*\nY=../z\nprod/a b')).toThrow(
      new InputError(
        [
          'secrets line 2 ("9X=prod/a"): "9X" is not a valid environment variable name (letters, digits and "_", not starting with a digit)',
          'secrets line 3 ("@prod/b"): "@" needs a variable name: write ENV=@NAME',
          'secrets line 4 ("X=prod/*"): a pattern cannot be given one variable name; each match gets its own (its last segment, upper-cased)',
          'secrets line 5 ("Y=../z"): "../z": the name has a ".." segment',
          'secrets line 6 ("prod/a b"): "prod/a b": the segment "a b" has a character outside A-Z, a-z, 0-9, "_", "." and "-"',
        ].join('\n'),
      ),
    );
    expect(() => parseSecretLines('# only a comment\n')).toThrow(/names no secret/);
  });

  it('applies defaults and checks the other inputs', () => {
    const parsed = parseInputs(inputsFrom({ 'broker-url': 'https://secrets.example.com', secrets: 'a/B' }));
    expect(parsed).toMatchObject({
      audience: 'https://secrets.example.com',
      exportEnv: true,
      fileFormat: 'dotenv',
      maskDerived: true,
      timeoutSeconds: 30,
      retries: 3,
      run: undefined,
      file: undefined,
    });
    const bad = (values: Record<string, string>) => () =>
      parseInputs(inputsFrom({ 'broker-url': 'https://b.example', secrets: 'a/B', ...values }));
    expect(bad({ 'broker-url': '' })).toThrow(/broker-url input is required/);
    expect(bad({ 'broker-url': 'http://b.example' })).toThrow(/must use https/);
    expect(bad({ 'export-env': 'yes' })).toThrow('the export-env input must be true or false, not "yes"');
    expect(bad({ 'timeout-seconds': '0' })).toThrow(/from 1 to 600/);
    expect(bad({ retries: '-1' })).toThrow(/from 0 to 10/);
    expect(bad({ 'file-format': 'yaml' })).toThrow(/dotenv or json/);
    expect(bad({ run: 'make', file: 'x' })).toThrow(/either run .* or file/);
    expect(
      parseInputs(inputsFrom({ 'broker-url': 'http://127.0.0.1:8080', secrets: 'a/B', audience: 'aud' }))
        .audience,
    ).toBe('aud');
  });
});

describe('variable names', () => {
  it('derives the contract name from the last segment', () => {
    expect(deriveEnvName('prod/api/db-password')).toBe('DB_PASSWORD');
    expect(deriveEnvName('TOKEN')).toBe('TOKEN');
    expect(deriveEnvName('a/b.c-d')).toBe('B_C_D');
    expect(deriveEnvName('x/1password')).toBe('_1PASSWORD');
  });

  it('refuses names that would take over later steps', () => {
    for (const name of ['PATH', 'NODE_OPTIONS', 'GITHUB_TOKEN', 'runner_temp', 'LD_PRELOAD', 'BASH_ENV'])
      expect(envNameProblem(name)).toMatch(/is refused/);
    expect(envNameProblem('DB_PASSWORD')).toBeUndefined();
  });
});

describe('export plan', () => {
  const released = [
    { name: 'prod/api/DB_PASSWORD', version: 3, value: 'a' },
    { name: 'prod/web/DB_PASSWORD', version: 1, value: 'b' },
    { name: 'prod/api/token', version: 1, value: 'c' },
  ];

  it('names variables line by line, with ENV= names as written', () => {
    const items = planExports(
      parseSecretLines('prod/api/DB_PASSWORD\nWEB_DB=prod/web/DB_PASSWORD\nprod/api/*\nprod/api/MISSING?'),
      released,
    );
    expect(items.map((item) => [item.secretName, item.envName, item.version])).toEqual([
      ['prod/api/DB_PASSWORD', 'DB_PASSWORD', 3],
      ['prod/web/DB_PASSWORD', 'WEB_DB', 1],
      ['prod/api/token', 'TOKEN', 1],
    ]);
  });

  it('refuses two secrets under one name and names both', () => {
    expect(() => planExports(parseSecretLines('prod/*/DB_PASSWORD'), released)).toThrow(
      new ExportPlanError(
        '"prod/api/DB_PASSWORD" and "prod/web/DB_PASSWORD" would both be DB_PASSWORD; give one another name with ENV=NAME on its own line',
      ),
    );
  });
});

describe('masking', () => {
  it('masks each line as logs break them: at a lone CR too, where the runner ends a line', () => {
    for (const value of ['first-part\rsecond-secret-part', 'first-part\r\nsecond-secret-part']) {
      expect(maskForms(value, false)).toEqual(expect.arrayContaining(['first-part', 'second-secret-part']));
      expect(redactionPatterns([value])).toEqual(
        expect.arrayContaining(['first-part', 'second-secret-part']),
      );
    }
  });

  it('masks the value, its lines, JSON leaves and the derived encodings', () => {
    const forms = maskForms('line-one\nline-two', true);
    expect(forms).toEqual(
      expect.arrayContaining([
        'line-one\nline-two',
        'line-one',
        'line-two',
        Buffer.from('line-one').toString('hex'),
      ]),
    );
    const json = maskForms(
      JSON.stringify({ user: 'deploy', password: 'p@ss w/rd', port: 5432, tls: true }),
      true,
    );
    expect(json).toEqual(
      expect.arrayContaining([
        'deploy',
        'p@ss w/rd',
        '5432',
        'p%40ss%20w%2Frd',
        'p%40ss+w%2Frd',
        Buffer.from('p@ss w/rd').toString('base64url'),
      ]),
    );
    expect(json).not.toContain('true');
    expect(maskForms('plain', false)).toEqual(['plain']);
    expect(maskForms('a\n\n  \nb', false)).toEqual(['a\n\n  \nb', 'a', 'b']);
  });
});
