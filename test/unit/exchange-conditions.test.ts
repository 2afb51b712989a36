/**
 * Rule time windows decided by the clock the services are given (issue 16), driven in memory: the same exchange
 * and list are granted or held back as the injected clock moves, without sleeping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, newRecipient } from '../helpers/broker-harness.js';
import { startInMemoryBroker, type InMemoryBroker } from '../helpers/in-memory-broker.js';

const clock = new ManualClock('2030-01-07T08:00:00Z'); // a Monday, 09:00 in Oslo
let broker: InMemoryBroker;

const WINDOWED = `  - name: weekday-deploys
    issuer: github
    claims: { repository_id: "98765" }
    when:
      time: { days: [mon, tue, wed, thu, fri], hours: "09:00-17:00", timezone: Europe/Oslo }
    secrets: [windowed/*]
`;

beforeAll(async () => {
  broker = await startInMemoryBroker((text) => `${text}${WINDOWED}`, undefined, { clock });
  await broker.services.vault.put('windowed/KEY', 'windowed-value');
});

afterAll(async () => {
  await broker.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await broker.services.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await broker.githubToken()}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const exchange = () =>
  post('/v1/exchange', { recipient: newRecipient().publicKey.toString('base64'), secrets: ['windowed/KEY'] });
const listed = async () =>
  ((await post('/v1/list', { secrets: ['windowed/*'] })).json.secrets as unknown[]).length;

describe('rule time windows on an injected clock', () => {
  it('grant from the window start, and hold back from its end (exclusive)', async () => {
    clock.set('2030-01-07T08:00:00Z');
    expect((await exchange()).status).toBe(200);
    expect(await listed()).toBe(1);
    clock.advance(8 * 3600 - 60); // 16:59
    expect((await exchange()).status).toBe(200);
    clock.advance(60); // 17:00
    const refused = await exchange();
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe('condition_failed');
    expect(refused.json.hint).toContain('Mon 2030-01-07 17:00 Europe/Oslo');
    expect(await listed()).toBe(0);
  });

  it('follow the rule time zone across a daylight saving change', async () => {
    clock.set('2030-04-01T07:30:00Z'); // Monday 09:30 in Oslo (summer time, UTC+2)
    expect((await exchange()).status).toBe(200);
    clock.set('2030-04-01T06:30:00Z'); // 08:30 in Oslo
    expect((await exchange()).json.code).toBe('condition_failed');
  });

  it('hold back on a day the rule does not list', async () => {
    clock.set('2030-01-12T10:00:00Z'); // Saturday
    expect((await exchange()).json.code).toBe('condition_failed');
    expect(await listed()).toBe(0);
  });
});
