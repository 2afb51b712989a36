/** A dashboard session made on one replica is read by another with the same master key (PostgreSQL, two brokers). */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/broker.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { PostgresCluster } from '../helpers/postgres.js';

let cluster: PostgresCluster;
let harness: BrokerHarness;
let second: RunningBroker;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  harness = await BrokerHarness.start({ databaseUrl: cluster.url, ui: true });
  second = await harness.startReplica();
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await cluster?.stop();
});

function cookiesOf(response: Response, jar: Map<string, string>): void {
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';')[0] ?? '';
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    if (value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

it('signs in on one replica and is served by the other, until the token is revoked on either', async () => {
  const created = await harness.admin('POST', '/tokens', { label: 'replica reviewer', role: 'auditor' });
  const jar = new Map<string, string>();
  const header = (): string => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const form = await fetch(`${harness.url}/ui/sign-in`);
  cookiesOf(form, jar);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const signIn = await fetch(`${harness.url}/ui/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      cookie: header(),
      origin: harness.url,
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ csrf, token: created.json.token as string }).toString(),
  });
  expect(signIn.status).toBe(303);
  cookiesOf(signIn, jar);
  const onSecond = await fetch(`${second.url}/ui/health`, {
    headers: { cookie: header() },
    redirect: 'manual',
  });
  expect(onSecond.status).toBe(200);
  expect(await onSecond.text()).toContain('replica reviewer');
  expect(
    (await harness.admin('DELETE', `/tokens/${created.json.id as string}`, undefined, undefined, second.url))
      .status,
  ).toBe(200);
  const afterRevoke = await fetch(`${harness.url}/ui/health`, {
    headers: { cookie: header() },
    redirect: 'manual',
  });
  expect(afterRevoke.status).toBe(303);
  expect(afterRevoke.headers.get('location')).toBe('/ui/sign-in?ended=revoked');
});

it('a sign-out ends the session on the replica that served it; the other replica still opens a copy (documented)', async () => {
  const jar = new Map<string, string>();
  const header = (): string => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const post = (url: string, form: Record<string, string>): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        cookie: header(),
        origin: new URL(url).origin,
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });
  const form = await fetch(`${harness.url}/ui/sign-in`);
  cookiesOf(form, jar);
  const signInCsrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const signIn = await post(`${harness.url}/ui/sign-in`, { csrf: signInCsrf, token: harness.adminToken });
  expect(signIn.status).toBe(303);
  cookiesOf(signIn, jar);
  const page = await fetch(`${harness.url}/ui/health`, { headers: { cookie: header() }, redirect: 'manual' });
  cookiesOf(page, jar);
  const sessionCsrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const copy = header();
  expect((await post(`${harness.url}/ui/sign-out`, { csrf: sessionCsrf })).status).toBe(303);
  const here = await fetch(`${harness.url}/ui/health`, { headers: { cookie: copy }, redirect: 'manual' });
  expect(here.status).toBe(303);
  expect(here.headers.get('location')).toBe('/ui/sign-in?ended=signed-out');
  const there = await fetch(`${second.url}/ui/health`, { headers: { cookie: copy }, redirect: 'manual' });
  expect(there.status).toBe(200);
});
