/** The exchange client's retry rules, against scripted HTTP answers on loopback. Sleeps are recorded, not waited. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchSecrets } from '../../src/client/exchange-client.js';
import { BrokerProblemError, BrokerUnreachableError, TokenRequestError } from '../../src/client/errors.js';

interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

let server: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
  server = undefined;
});

async function scriptedBroker(answers: Scripted[]): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  server = createServer((request, response) => {
    seen.push(request.headers.authorization ?? '');
    const answer = answers[Math.min(seen.length - 1, answers.length - 1)] as Scripted;
    response
      .writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
      .end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const problem = (status: number, code: string) => ({
  title: code,
  status,
  code,
  detail: `${code} detail`,
  request_id: 'r',
});

function client(url: string, overrides: Partial<Parameters<typeof fetchSecrets>[0]> = {}) {
  let token = 0;
  const sleeps: number[] = [];
  const call = fetchSecrets({
    brokerUrl: url,
    entries: ['prod/api/X'],
    getToken: async () => `token-${++token}`,
    timeoutMs: 60_000,
    retries: 3,
    random: () => 0.5,
    sleep: async (ms) => void sleeps.push(ms),
    ...overrides,
  });
  return { call, sleeps };
}

describe('exchange client retries', () => {
  it('retries 5xx with full-jitter backoff and a fresh token each time, then reports the last problem', async () => {
    const broker = await scriptedBroker([{ status: 503, body: problem(503, 'unavailable') }]);
    const { call, sleeps } = client(broker.url);
    const error = await call.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BrokerProblemError);
    expect((error as BrokerProblemError).code).toBe('unavailable');
    expect(broker.seen).toEqual(['Bearer token-1', 'Bearer token-2', 'Bearer token-3', 'Bearer token-4']);
    expect(sleeps).toEqual([250, 500, 1000]);
  });

  it('honours Retry-After on 429', async () => {
    const broker = await scriptedBroker([
      { status: 429, headers: { 'retry-after': '7' }, body: problem(429, 'rate_limited') },
      { status: 200, body: { request_id: 'r', secrets: [] } },
    ]);
    const { call, sleeps } = client(broker.url, { entries: ['prod/api/X?'] });
    expect((await call).secrets).toEqual([]);
    expect(sleeps).toEqual([7000]);
  });

  it('does not retry a 4xx answer', async () => {
    const broker = await scriptedBroker([{ status: 403, body: problem(403, 'policy_denied') }]);
    const { call, sleeps } = client(broker.url);
    await expect(call).rejects.toMatchObject({ code: 'policy_denied', status: 403 });
    expect(broker.seen).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('stops when the next wait would pass the deadline', async () => {
    const broker = await scriptedBroker([{ status: 502, body: 'bad gateway' }]);
    let clock = 0;
    const { call } = client(broker.url, {
      timeoutMs: 1000,
      random: () => 0.99,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    const error = await call.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BrokerProblemError);
    expect((error as BrokerProblemError).problem.detail).toBe(
      'the broker answered HTTP 502 without a problem document',
    );
    // Waits of 495 ms, then 990 ms: the second would end past the 1000 ms deadline, so two attempts in all.
    expect(broker.seen).toHaveLength(2);
  });

  it('reports a broker it cannot reach with the attempts made', async () => {
    const broker = await scriptedBroker([]);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const { call } = client(broker.url, { retries: 1 });
    await expect(call).rejects.toBeInstanceOf(BrokerUnreachableError);
    await expect(client(broker.url, { retries: 1 }).call).rejects.toThrow(
      /ECONNREFUSED.*gave up after 2 attempt\(s\)/,
    );
  });

  it('fails at once when the CI provider gives no token', async () => {
    const broker = await scriptedBroker([{ status: 200, body: { request_id: 'r', secrets: [] } }]);
    const { call } = client(broker.url, {
      getToken: () => Promise.reject(new Error('HTTP 403 from the token endpoint')),
    });
    await expect(call).rejects.toBeInstanceOf(TokenRequestError);
    expect(broker.seen).toEqual([]);
  });
});

describe('the token request is bounded by the same deadline', () => {
  it('fails with a TokenRequestError when the CI provider never answers, and sends nothing', async () => {
    const broker = await scriptedBroker([{ status: 200, body: { request_id: 'r', secrets: [] } }]);
    const { call } = client(broker.url, {
      getToken: () => new Promise<string>(() => undefined),
      timeoutMs: 50,
    });
    const error = await call.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenRequestError);
    expect((error as Error).message).toBe(
      'could not get an OIDC ID token: the token request did not answer in time (timeout-seconds covers it too)',
    );
    expect(broker.seen).toEqual([]);
  });

  it('a retry whose token request hangs ends at the deadline as well', async () => {
    const broker = await scriptedBroker([{ status: 503, body: problem(503, 'unavailable') }]);
    let calls = 0;
    const { call } = client(broker.url, {
      timeoutMs: 2_000,
      getToken: () => (++calls === 1 ? Promise.resolve('token-1') : new Promise<string>(() => undefined)),
    });
    // The broker's 503 is the cause; the token that never came is why no retry was made.
    await expect(call).rejects.toMatchObject({
      code: 'unavailable',
      gaveUp: expect.stringContaining('the token request did not answer in time'),
    });
    expect(broker.seen).toEqual(['Bearer token-1']);
  });
});

describe('every read from the broker is bounded', () => {
  /** Serves `handler` and makes one exchange against it with no retry. */
  async function oneExchange(handler: RequestListener, timeoutMs: number): Promise<unknown> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return fetchSecrets({
      brokerUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      entries: ['prod/api/X'],
      getToken: async () => 'token',
      timeoutMs,
      retries: 0,
    }).catch((caught: unknown) => caught);
  }

  it('a broker that trickles its answer forever is given up at the deadline, however the GC runs', async () => {
    let sockets = 0;
    const error = await oneExchange((_request, response) => {
      sockets += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"request_id":"r","secrets":[');
      const drip = setInterval(() => response.write(' '), 20);
      response.on('close', () => clearInterval(drip));
    }, 300);
    expect(error).toBeInstanceOf(BrokerUnreachableError);
    expect((error as Error).message).toContain('no answer in the time left');
    expect(sockets).toBe(1);
    server!.closeAllConnections();
  });

  it('an answer larger than any exchange answer is refused while it is read', async () => {
    let written = 0;
    const error = await oneExchange((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const pump = (): void => {
        while (written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
        response.end();
      };
      response.on('close', () => response.removeAllListeners('drain'));
      pump();
    }, 60_000);
    expect((error as Error).message).toMatch(/larger than 67108864 bytes/);
    // Stopped near the limit (plus what loopback buffers hold), not at the gigabyte the server had to send.
    expect(written).toBeLessThan(256 * 1024 * 1024);
  });
});
