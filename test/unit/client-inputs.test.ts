/** The broker URL spelled one way, the secret entries in each client's words, and the derived forms hidden. */
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/action/inputs.js';
import { maskForms } from '../../src/action/masking.js';
import { brokerUrlProblem, normalBrokerUrl } from '../../src/client/broker-url.js';
import { Redactor, redactionPatterns } from '../../src/client/redactor.js';
import { parseSecretFlags, parseSecretLines } from '../../src/client/secret-lines.js';

const actionInputs = (values: Record<string, string>) => parseInputs((name) => values[name] ?? '');

describe('the broker URL', () => {
  it('is spelled one way: lower-case scheme and host, no default port, no trailing slash', () => {
    for (const [given, normal] of [
      ['https://secrets.example.com/', 'https://secrets.example.com'],
      ['https://secrets.example.com//', 'https://secrets.example.com'],
      ['HTTPS://Secrets.Example.com:443/', 'https://secrets.example.com'],
      ['https://example.com/broker/', 'https://example.com/broker'],
      ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
      ['http://[::1]:8080', 'http://[::1]:8080'],
    ])
      expect(normalBrokerUrl(given as string), given).toBe(normal);
  });

  it('refuses a query, a fragment or credentials, which no exchange URL can be built on', () => {
    for (const url of ['https://a.example/?x=1', 'https://a.example/#f', 'https://u:p@a.example/'])
      expect(brokerUrlProblem(url), url).toContain('must be a plain address');
  });

  it("gives the action's default audience the same spelling as its broker-url", () => {
    const inputs = actionInputs({ 'broker-url': 'https://secrets.example.com/', secrets: 'prod/a/B' });
    expect(inputs.brokerUrl).toBe('https://secrets.example.com');
    expect(inputs.audience).toBe('https://secrets.example.com');
    const explicit = actionInputs({
      'broker-url': 'https://secrets.example.com/',
      audience: 'https://aud.example/',
      secrets: 'prod/a/B',
    });
    expect(explicit.audience).toBe('https://aud.example/');
  });
});

describe('secret entries in the words of their client', () => {
  it('the action speaks of lines of its secrets input', () => {
    expect(() => parseSecretLines('prod/a/B\n9X=prod/a')).toThrow('secrets line 2 ("9X=prod/a"): "9X"');
    expect(parseSecretLines('\nprod/a/B')[0]).toMatchObject({ where: 'line 2', ownEntry: 'on its own line' });
  });

  it('secrets-fetch speaks of --secret flags, one entry each, escaped', () => {
    expect(() => parseSecretFlags(['prod/a/B', '9X=prod/a'])).toThrow(`--secret #2 '9X=prod/a': "9X"`);
    expect(() => parseSecretFlags(['prod/a/B', ' '])).toThrow(`--secret #2 ' ': is empty`);
    expect(() => parseSecretFlags(['a/b\nc/d'])).toThrow(`--secret #1 'a/b\\nc/d'`);
    expect(() => parseSecretFlags([])).toThrow('no --secret given');
    expect(parseSecretFlags(['prod/a/B'])[0]).toMatchObject({ where: '--secret #1' });
  });
});

describe('derived forms', () => {
  const value = 'pass+word/?é';
  const bytes = Buffer.from(value, 'utf8');
  const forms = [
    bytes.toString('hex'),
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    encodeURIComponent(value),
  ];

  it('the action masks standard base64 as well as hex, base64url and URL-encoding', () => {
    expect(bytes.toString('base64')).not.toBe(bytes.toString('base64url'));
    for (const form of forms) expect(maskForms(value, true)).toContain(form);
    expect(maskForms(value, false)).toEqual([value]);
  });

  it('secrets-fetch exec redacts the same forms', () => {
    const redactor = new Redactor(redactionPatterns([value], true));
    expect(redactor.redact(forms.join(' '))).toBe(forms.map(() => '***').join(' '));
    expect(redactionPatterns([value])).toEqual([value]);
  });
});
