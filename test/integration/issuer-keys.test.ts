import { afterEach, describe, expect, it } from 'vitest';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(): Promise<BrokerHarness> {
  // No rate limit on refetching for an unknown key id, so each step below is deterministic.
  harness = await BrokerHarness.start({ issuerKeys: { minRefetchIntervalMs: 0 } });
  await harness.setSecret('prod/api/DB_PASSWORD', 'value');
  return harness;
}

const token = (h: BrokerHarness): Promise<string> =>
  h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));

describe('issuer keys', () => {
  it('picks up a key the issuer rotated in, on the first token that uses it', async () => {
    const h = await start();
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    await h.github.addKey();
    const before = h.github.requests.length;
    const result = await h.exchange(await token(h), ['prod/api/DB_PASSWORD']);
    expect(result.status).toBe(200);
    expect(h.github.requests.slice(before)).toEqual(['/.well-known/openid-configuration', '/jwks']);
  });

  it('keeps accepting tokens signed by known keys while the issuer is down', async () => {
    const h = await start();
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    h.github.down = true;
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
  });

  it('fails closed with unavailable for a new key id while the issuer is down, and recovers', async () => {
    const h = await start();
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    h.github.down = true;
    await h.github.addKey();
    const during = await h.exchange(await token(h), ['prod/api/DB_PASSWORD']);
    expect(during.status).toBe(503);
    expect(during.json.code).toBe('unavailable');
    expect(during.json.detail).toContain('cannot be fetched');
    h.github.down = false;
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
  });

  it('fails closed with unavailable when it never had the issuer keys', async () => {
    harness = await BrokerHarness.start({ issuerKeys: { minRefetchIntervalMs: 0 } });
    const h = harness;
    // The broker fetched keys in the background at start; take them away by restarting it while the issuer is down.
    await h.setSecret('prod/api/DB_PASSWORD', 'value');
    await h.stopBroker();
    h.github.down = true;
    await h.startBroker({ issuerKeys: { minRefetchIntervalMs: 0 } });
    const result = await h.exchange(await token(h), ['prod/api/DB_PASSWORD']);
    expect(result.status).toBe(503);
    expect(result.json.code).toBe('unavailable');
    expect(result.json.detail).toContain('HTTP 503');
    const ready = await h.request('GET', '/readyz');
    expect(JSON.stringify(ready.json)).toContain('"loaded":false');
    expect((await h.request('GET', '/metrics')).text).toMatch(
      /secrets_broker_issuer_key_refresh_failures_total\{issuer="http:\/\/127\.0\.0\.1:\d+"\} [1-9]/,
    );
    h.github.down = false;
    expect((await h.exchange(await token(h), ['prod/api/DB_PASSWORD'])).status).toBe(200);
  });
});
