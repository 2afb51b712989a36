import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/broker/explain/explain.js';
import { main } from '../../src/cli/main.js';
import { githubClaims, gitlabClaims, type Claims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness;
const stored = [
  'prod/api/DB_PASSWORD',
  'staging/api/DB_PASSWORD',
  'shared/PLATFORM_TOKEN',
  'shared/SLACK_WEBHOOK',
  'prod/web/deploy/KEY',
];

beforeAll(async () => {
  harness = await BrokerHarness.start();
  for (const name of stored) await harness.setSecret(name, `value of ${name}`);
});

afterAll(async () => {
  await harness?.close();
});

const fixtures: { name: string; issuer: 'github' | 'gitlab'; claims: Claims }[] = [
  { name: 'github deploy', issuer: 'github', claims: {} },
  { name: 'github staging environment', issuer: 'github', claims: { environment: 'staging' } },
  { name: 'github nested branch', issuer: 'github', claims: { ref: 'refs/heads/feature/x' } },
  { name: 'github feature branch', issuer: 'github', claims: { ref: 'refs/heads/feature' } },
  { name: 'github dependabot', issuer: 'github', claims: { actor: 'dependabot[bot]' } },
  { name: 'github without environment', issuer: 'github', claims: { environment: undefined } },
  { name: 'github platform group', issuer: 'github', claims: { groups: ['dev', 'platform'] } },
  {
    name: 'github other repository',
    issuer: 'github',
    claims: { repository_id: '1', repository: 'acme/other' },
  },
  { name: 'gitlab deploy', issuer: 'gitlab', claims: {} },
  { name: 'gitlab unprotected ref', issuer: 'gitlab', claims: { ref_protected: 'false' } },
];
const requests = [
  ['prod/api/DB_PASSWORD'],
  ['staging/api/DB_PASSWORD'],
  ['shared/PLATFORM_TOKEN'],
  ['prod/web/deploy/KEY'],
  ['shared/SLACK_WEBHOOK', 'prod/api/DB_PASSWORD', 'prod/api/*'],
];

async function cliExplain(token: string, secrets: string[]): Promise<Explanation> {
  const out: Buffer[] = [];
  const stdout = new PassThrough().on('data', (chunk: Buffer) => out.push(chunk));
  const code = await main(
    [
      'policy',
      'explain',
      harness.policyFile,
      '--token',
      token,
      '--json',
      ...secrets.flatMap((secret) => ['--secret', secret]),
    ],
    {
      stdin: Readable.from([]),
      stdout,
      stderr: new PassThrough(),
      environment: {},
    },
  );
  expect(code).toBe(0);
  return JSON.parse(Buffer.concat(out).toString()) as Explanation;
}

describe('policy explain', () => {
  it('matches the exchange decision for every fixture token and request', async () => {
    let compared = 0;
    for (const fixture of fixtures) {
      for (const secrets of requests) {
        const issuer = harness[fixture.issuer];
        const shape = fixture.issuer === 'github' ? githubClaims : gitlabClaims;
        const token = await issuer.token(shape(issuer.url, TEST_AUDIENCE, fixture.claims));
        const local = await cliExplain(token, secrets);
        const remote = (await harness.admin('POST', '/policy/explain', { token, secrets }))
          .json as unknown as Explanation;
        expect(remote).toEqual(local);
        const exchange = await harness.exchange(token, secrets);
        const label = `${fixture.name} asking ${secrets.join(' ')}`;
        const denied = local.secrets.filter((secret) => !secret.granted).map((secret) => secret.entry);
        if (denied.length === 0) {
          expect(exchange.status, label).toBe(200);
          const released = (exchange.json.secrets as { name: string }[]).map((secret) => secret.name);
          for (const entry of secrets.filter((secret) => !secret.includes('*')))
            expect(released, label).toContain(entry);
        } else {
          expect(exchange.status, label).toBe(403);
          expect(exchange.json.not_granted, label).toEqual(denied);
        }
        compared += 1;
      }
    }
    expect(compared).toBe(fixtures.length * requests.length);
  });

  it('prints every rule and claim with expected and actual values', async () => {
    const token = await harness.github.token(
      githubClaims(harness.github.url, TEST_AUDIENCE, { environment: 'staging' }),
    );
    const out: Buffer[] = [];
    const stdout = new PassThrough().on('data', (chunk: Buffer) => out.push(chunk));
    await main(
      [
        'policy',
        'explain',
        harness.policyFile,
        '--token',
        token,
        '--secret',
        'prod/api/DB_PASSWORD',
        '--secret',
        'staging/api/DB_PASSWORD',
      ],
      {
        stdin: Readable.from([]),
        stdout,
        stderr: new PassThrough(),
        environment: {},
      },
    );
    const text = Buffer.concat(out).toString();
    expect(text).toContain('[ ] api-deploy-prod (line 9): does not match');
    expect(text).toContain('FAIL environment: token has "staging", rule wants "production"');
    expect(text).toContain('ok   repository_id: token has "98765", rule wants "98765"');
    expect(text).toContain('[x] api-ci-any-branch (line 22): matches');
    expect(text).toContain('[ ] web-deploy-gitlab (line 35): for issuer "gitlab", not this token\'s');
    expect(text).toContain('prod/api/DB_PASSWORD: DENIED: rule "api-deploy-prod" came closest');
    expect(text).toContain('staging/api/DB_PASSWORD: granted by api-ci-any-branch');
  });

  it('says when the issuer is not in the policy, and needs claims or a token', async () => {
    const explained = await harness.admin('POST', '/policy/explain', {
      claims: { iss: 'https://evil.example', sub: 'x' },
      secrets: ['prod/api/DB_PASSWORD'],
    });
    expect(explained.json.note).toContain('is not in the policy');
    expect(explained.json.secrets).toMatchObject([{ granted: false }]);
    expect((await harness.admin('POST', '/policy/explain', { secrets: [] })).status).toBe(400);
    const auditor = await harness.admin('POST', '/tokens', { label: 'auditor', role: 'auditor' });
    expect(
      (await harness.admin('POST', '/policy/explain', { claims: {} }, auditor.json.token as string)).status,
    ).toBe(200);
  });
});
