import { describe, expect, it } from 'vitest';
import { normalHttpUrl } from '../../src/protocol/url-spelling.js';
import { brokerUrlProblem, normalBrokerUrl } from '../../src/client/broker-url.js';

describe('normalHttpUrl', () => {
  it.each([
    ['https://secrets.example.com', 'https://secrets.example.com'],
    ['https://secrets.example.com/', 'https://secrets.example.com'],
    ['https://secrets.example.com//', 'https://secrets.example.com'],
    ['HTTPS://Secrets.Example.COM', 'https://secrets.example.com'],
    ['https://secrets.example.com:443/', 'https://secrets.example.com'],
    ['http://127.0.0.1:80/', 'http://127.0.0.1'],
    ['https://secrets.example.com:8443/', 'https://secrets.example.com:8443'],
    ['https://secrets.example.com/broker/', 'https://secrets.example.com/broker'],
    ['https://secrets.example.com/Broker', 'https://secrets.example.com/Broker'],
  ])('%s is spelled %s', (text, spelling) => {
    expect(normalHttpUrl(text)).toBe(spelling);
    expect(normalHttpUrl(spelling)).toBe(spelling);
  });

  it.each([
    'secrets.example.com',
    'api://secrets',
    'ftp://secrets.example.com/',
    'https://user:pass@secrets.example.com/',
    'https://user@secrets.example.com',
    'https://secrets.example.com/?',
    'https://secrets.example.com/?a=1',
    'https://secrets.example.com#',
    'https://secrets.example.com/#x',
    '',
  ])('%s has no normal spelling: it is compared as written', (text) => {
    expect(normalHttpUrl(text)).toBeUndefined();
  });

  it('is the spelling the clients use for broker-url', () => {
    for (const text of ['https://Secrets.example.com:443/', 'https://x.example/a//', 'http://localhost:80'])
      expect(normalBrokerUrl(text)).toBe(normalHttpUrl(text));
  });

  it('the clients refuse a broker-url with an empty query or fragment, which has no normal spelling', () => {
    for (const text of ['https://x.example?', 'https://x.example/#'])
      expect(brokerUrlProblem(text), text).toContain('must be a plain address');
  });
});
