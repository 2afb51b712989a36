/**
 * A store outage while an admin token is checked answers 503 `unavailable` with the one text every store outage
 * answers (the exchange's), never 500: the token may well be valid, and the client should retry.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let h: BrokerHarness;

beforeAll(async () => {
  h = await BrokerHarness.start();
  await h.setSecret('prod/api/DB_PASSWORD', 'outage-test-value');
});

afterAll(async () => {
  await h?.close();
});

/** Runs `during` with `table` out of the broker's reach: every query of it fails as a database failure does. */
async function withoutTable<T>(table: string, during: () => Promise<T>): Promise<T> {
  const database = new Database(join(h.dataDir, DATABASE_FILE));
  try {
    database.exec(`ALTER TABLE ${table} RENAME TO ${table}_away`);
    try {
      return await during();
    } finally {
      database.exec(`ALTER TABLE ${table}_away RENAME TO ${table}`);
    }
  } finally {
    database.close();
  }
}

it('answers 503 unavailable with the exchange text while stored admin tokens cannot be read', async () => {
  const created = await h.admin('POST', '/tokens', { label: 'outage', role: 'admin' });
  const stored = created.json.token as string;
  const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
  const exchange = await withoutTable('secret_versions', () => h.exchange(token, ['prod/api/DB_PASSWORD']));
  expect(exchange.status, exchange.text).toBe(503);
  expect(exchange.json.code).toBe('unavailable');

  const unknown = `sbadm_0123456789abcdef_${'A'.repeat(43)}`;
  const answers = await withoutTable('admin_tokens', async () => [
    await h.admin('GET', '/whoami', undefined, stored),
    await h.admin('GET', '/secrets', undefined, unknown),
  ]);
  for (const answer of answers) {
    expect(answer.status, answer.text).toBe(503);
    expect(answer.json).toMatchObject({
      code: 'unavailable',
      detail: exchange.json.detail,
      hint: exchange.json.hint,
    });
  }
  expect(h.logs.some((line) => line.includes('"msg":"store unavailable"'))).toBe(true);
  expect((await h.admin('GET', '/whoami', undefined, stored)).json).toMatchObject({ label: 'outage' });
});

it('answers 503 unavailable, not 500, when the database is closed under a running broker', async () => {
  const created = await h.admin('POST', '/tokens', { label: 'closed', role: 'admin' });
  const stored = created.json.token as string;
  await h.broker.stores.close();
  try {
    for (const answer of [
      await h.admin('GET', '/whoami', undefined, stored),
      await h.admin('GET', '/secrets'),
      await h.admin('PUT', '/secrets/prod/api/other', { value: 'closed-store-value' }),
    ]) {
      expect(answer.status, answer.text).toBe(503);
      expect(answer.json).toMatchObject({ code: 'unavailable' });
    }
  } finally {
    await h.stopBroker().catch(() => undefined);
    await h.startBroker();
  }
});
