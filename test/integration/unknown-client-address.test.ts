/**
 * The client address as `when.source_ips` sees it through the real broker behind a trusted proxy (127.0.0.1):
 * an IPv6 range never admits an IPv4 client, and a forwarded hop that is not an address leaves the client
 * unknown (refused, never taken for the proxy, which is inside an allowed range here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerHarness,
  policyWithRules,
  newRecipient,
  TEST_AUDIENCE,
  type HttpResult,
} from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

const policy = policyWithRules(`  - name: office-or-ipv6
    issuer: github
    claims: { repository_id: "98765" }
    when:
      source_ips: [10.0.0.0/8, "::/0"]
    secrets: [office/*]
  - name: proxy-network
    issuer: github
    claims: { repository_id: "98765" }
    when:
      source_ips: [127.0.0.0/8]
    secrets: [inside/*]
`);

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start({ policy, environment: { SECRETS_BROKER_TRUST_PROXY: '127.0.0.1' } });
  await harness.setSecret('office/KEY', 'office-value');
  await harness.setSecret('inside/KEY', 'inside-value');
});

afterAll(async () => {
  await harness?.close();
});

/** An exchange through the trusted proxy at 127.0.0.1, which forwards `forwardedFor`. */
async function exchange(secret: string, forwardedFor: string): Promise<HttpResult> {
  const token = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
  return harness.exchange(token, [secret], newRecipient(), undefined, { 'x-forwarded-for': forwardedFor });
}

async function expectConditionFailed(result: HttpResult): Promise<Record<string, unknown>> {
  expect(result.status, result.text).toBe(403);
  expect(result.json.code).toBe('condition_failed');
  expect(result.text).not.toContain('"sealed"');
  expect(result.text).not.toMatch(/-value/);
  const record = await harness.auditRecord(result.json.request_id);
  expect(record).toMatchObject({ kind: 'exchange', outcome: 'denied', released: [] });
  expect(record.conditions).toEqual([expect.objectContaining({ condition: 'source_ips' })]);
  return record;
}

describe('an IPv6 range and IPv4 clients', () => {
  it('[10.0.0.0/8, "::/0"] admits the office and IPv6 clients', async () => {
    for (const client of ['10.1.2.3', '2001:db8::5']) {
      const result = await exchange('office/KEY', client);
      expect(result.status, `${client}: ${result.text}`).toBe(200);
    }
  });

  it('and refuses any other IPv4 client, also in its IPv4-mapped form', async () => {
    for (const client of ['203.0.113.9', '::ffff:203.0.113.9']) {
      const result = await exchange('office/KEY', client);
      await expectConditionFailed(result);
      expect(result.json.hint).toContain('203.0.113.9');
    }
  });
});

describe('a forwarded hop that is not an address', () => {
  it('leaves the client unknown: refused, though the proxy itself is inside the range', async () => {
    for (const forwardedFor of ['unknown', '198.51.100.1, unknown', '203.0.113.9:4711']) {
      const result = await exchange('inside/KEY', forwardedFor);
      const record = await expectConditionFailed(result);
      expect(result.json.hint).toContain('the client address could not be determined');
      expect(result.json.hint).not.toContain('127.0.0.0/8');
      expect(record.source_ip).toBe('unknown (via 127.0.0.1)');
    }
  });

  it('the proxy forwarding an address inside the range is still granted', async () => {
    const result = await exchange('inside/KEY', '127.0.0.9');
    expect(result.status, result.text).toBe(200);
    expect((await harness.auditRecord(result.json.request_id)).source_ip).toBe('127.0.0.9');
  });
});
