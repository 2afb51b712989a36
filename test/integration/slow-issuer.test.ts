/**
 * Defect 8 of issue 11: a slow issuer must not make exchanges hang. One deadline covers connect, headers and
 * the whole body of each issuer document, held by a timer a garbage collection cannot cancel; a stuck refresh
 * is abandoned at that deadline and later exchanges answer 503 at once.
 *
 * No wall-clock thresholds: a refresh that does not end is detected by counting the bytes the issuer trickled
 * (one every 50 ms) while it was pending, far more than the injected 300 ms deadline allows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/broker/logger.js';
import {
  DEFAULT_ISSUER_KEYS_OPTIONS,
  IssuerKeys,
  type IssuerKeysOptions,
} from '../../src/broker/oidc/issuer-keys.js';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { eventually } from '../helpers/eventually.js';
import { collectGarbage } from '../helpers/gc.js';
import { DISCOVERY_PATH, HostileIssuer, JWKS_PATH } from '../helpers/hostile-issuer.js';
import { githubClaims, tokenFromForeignKey } from '../helpers/oidc-issuer.js';

const DEADLINE_MS = 300;
/** At one byte per 50 ms this is ten seconds of trickle: a refresh still pending then has no deadline. */
const BYTES_THAT_PROVE_A_HANG = 200;

let issuer: HostileIssuer | undefined;
let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await issuer?.stop();
  issuer = undefined;
});

async function startIssuer(): Promise<HostileIssuer> {
  issuer = await new HostileIssuer().start();
  return issuer;
}

function issuerKeys(url: string, logs: string[], options: Partial<IssuerKeysOptions> = {}): IssuerKeys {
  const logger = createLogger('warn', { write: (line: string) => void logs.push(line) });
  return new IssuerKeys(url, logger, () => undefined, {
    ...DEFAULT_ISSUER_KEYS_OPTIONS,
    requestTimeoutMs: DEADLINE_MS,
    ...options,
  });
}

/** The refresh's outcome, or 'still pending' once the issuer trickled `BYTES_THAT_PROVE_A_HANG` bytes. */
function refreshOrHang(keys: IssuerKeys, hostile: HostileIssuer, onByte: () => void = () => undefined) {
  let trickled = 0;
  const hang = new Promise<'still pending'>((resolve) => {
    hostile.onByte = () => {
      onByte();
      trickled += 1;
      if (trickled >= BYTES_THAT_PROVE_A_HANG) resolve('still pending');
    };
  });
  return Promise.race([keys.refresh().then((ok) => (ok ? 'loaded' : 'failed')), hang]);
}

const documents = [
  { name: 'discovery document', path: DISCOVERY_PATH, slow: 'discovery' },
  { name: 'JWKS', path: JWKS_PATH, slow: 'jwks' },
] as const;

describe.each(documents)('an issuer that trickles its $name', ({ name, path, slow }) => {
  it('fails the refresh at the deadline, names it, and closes the connection', async () => {
    const hostile = await startIssuer();
    hostile[slow] = { kind: 'trickle' };
    const logs: string[] = [];
    const keys = issuerKeys(hostile.url, logs);

    expect(await refreshOrHang(keys, hostile)).toBe('failed');
    const error = keys.status().lastError ?? '';
    expect(error).toContain(`the ${name} at ${hostile.url}${path}`);
    expect(error).toContain(`${DEADLINE_MS} ms`);
    // The broker destroyed the socket: the issuer sees its response cut off, not merely ignored.
    const [record] = hostile.responsesFor(path);
    await eventually(async () => (record!.closed ? true : undefined), 15_000, 'the issuer to see the close');
    expect(record!.closedByClient).toBe(true);
    expect(logs.join('\n')).toContain(`${DEADLINE_MS} ms`);
  });

  it('still ends at the deadline when garbage is collected while the body trickles', async () => {
    // AbortSignal.timeout() holds its signal only weakly: once a collection frees the signal, nothing aborts
    // the body read any more. The deadline must be a timer the refresh owns.
    const hostile = await startIssuer();
    hostile[slow] = { kind: 'trickle' };
    const keys = issuerKeys(hostile.url, []);

    expect(await refreshOrHang(keys, hostile, collectGarbage)).toBe('failed');
    expect(keys.status().lastError).toContain(`${DEADLINE_MS} ms`);
  });
});

describe('the broker while an issuer is stuck', () => {
  /** A frozen clock: the retry back-off after a failure cannot run out during the test. */
  const FROZEN_NOW = Date.parse('2030-01-01T00:00:00Z');

  async function startBroker(
    slow: 'discovery' | 'jwks',
  ): Promise<{ h: BrokerHarness; hostile: HostileIssuer }> {
    const hostile = await startIssuer();
    hostile[slow] = { kind: 'trickle' };
    harness = await BrokerHarness.start({
      policy: (_github, gitlab) => testPolicy(hostile.url, gitlab),
      issuerKeys: { requestTimeoutMs: DEADLINE_MS, now: () => FROZEN_NOW },
    });
    return { h: harness, hostile };
  }

  const stuckToken = (hostile: HostileIssuer): Promise<string> =>
    tokenFromForeignKey(githubClaims(hostile.url, TEST_AUDIENCE));

  it.each(['discovery', 'jwks'] as const)(
    'keeps /healthz answering and answers 503 at once, without asking the issuer again (%s trickles)',
    async (slow) => {
      const { h, hostile } = await startBroker(slow);
      const path = slow === 'discovery' ? DISCOVERY_PATH : JWKS_PATH;
      // The background refresh the broker started is now stuck on a trickling body.
      await eventually(
        async () => (hostile.responsesFor(path)[0]?.bodyBytes ?? 0) > 0 || undefined,
        15_000,
        'the issuer to start trickling',
      );
      expect((await h.request('GET', '/healthz')).status).toBe(200);

      const first = await h.exchange(await stuckToken(hostile), ['prod/api/DB_PASSWORD']);
      expect(first.status).toBe(503);
      expect(first.json.code).toBe('unavailable');
      expect(first.json.detail).toContain(`${DEADLINE_MS} ms`);
      expect(first.json.hint).toEqual(expect.any(String));

      const requestsBefore = hostile.requestCount;
      const second = await h.exchange(await stuckToken(hostile), ['prod/api/DB_PASSWORD']);
      expect(second.status).toBe(503);
      expect(second.json.code).toBe('unavailable');
      expect(second.json.detail).toContain('next attempt');
      expect(hostile.requestCount).toBe(requestsBefore);

      expect((await h.request('GET', '/healthz')).status).toBe(200);
      const ready = await h.request('GET', '/readyz');
      expect(JSON.stringify(ready.json)).toContain('"loaded":false');
      // The stuck connection was torn down, not left to trickle on.
      expect(hostile.responsesFor(path).every((record) => record.closedByClient)).toBe(true);
    },
  );

  it('verifies tokens with the cached keys while a refresh is stuck, without waiting for it', async () => {
    const hostile = await startIssuer();
    harness = await BrokerHarness.start({
      policy: (_github, gitlab) => testPolicy(hostile.url, gitlab),
      // A deadline far beyond the test: only the cached keys can make the exchange below answer.
      issuerKeys: { requestTimeoutMs: 10 * 60_000, minRefetchIntervalMs: 0 },
    });
    const h = harness;
    await h.setSecret('prod/api/DB_PASSWORD', 'value');
    const known = (): Promise<string> => hostile.token(githubClaims(hostile.url, TEST_AUDIENCE));
    expect((await h.exchange(await known(), ['prod/api/DB_PASSWORD'])).status).toBe(200);

    // A token with a key id the broker does not know starts a refresh; the JWKS now trickles forever.
    hostile.jwks = { kind: 'trickle' };
    const jwksBefore = hostile.responsesFor(JWKS_PATH).length;
    const unknownKid = h.exchange(await stuckToken(hostile), ['prod/api/DB_PASSWORD']);
    await eventually(
      async () => (hostile.responsesFor(JWKS_PATH)[jwksBefore]?.bodyBytes ?? 0) > 0 || undefined,
      15_000,
      'the refresh to get stuck on the JWKS',
    );

    expect((await h.exchange(await known(), ['prod/api/DB_PASSWORD'])).status).toBe(200);
    expect(hostile.responsesFor(JWKS_PATH)[jwksBefore]!.closed).toBe(false);

    // Ending the issuer ends the stuck refresh; the token it was fetched for fails closed.
    await hostile.stop();
    const stuck = await unknownKid;
    expect(stuck.status).toBe(503);
    expect(stuck.json.code).toBe('unavailable');
  });
});

describe('retrying an issuer that failed, with no keys cached', () => {
  it('fails at once without a request until the back-off runs out, doubling it up to minRefetchIntervalMs', async () => {
    const hostile = await startIssuer();
    hostile.discovery = { kind: 'custom', status: 500 };
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const keys = issuerKeys(hostile.url, [], { minRefetchIntervalMs: 3_000, now: () => clock });

    const attempt = () =>
      keys.current().then(
        () => 'keys',
        (error: Error) => error.message,
      );
    // Waits for the first attempt, which fails.
    expect(await attempt()).toContain('answered HTTP 500');
    expect(hostile.requestCount).toBe(1);
    for (const [waitMs, requests] of [
      [999, 1], // 1 s back-off after the first failure
      [1, 2],
      [1_999, 2], // then 2 s
      [1, 3],
      [2_999, 3], // then 4 s, capped at minRefetchIntervalMs (3 s)
      [1, 4],
    ] as const) {
      clock += waitMs;
      const message = await attempt();
      expect(message).toContain('could not be fetched');
      expect(hostile.requestCount).toBe(requests);
    }
    expect(await attempt()).toContain('next attempt in 3 s');

    hostile.discovery = { kind: 'normal' };
    clock += 3_000;
    expect(await attempt()).toBe('keys');
  });
});
