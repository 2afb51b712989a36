import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { MasterKeyError, parseMasterKey } from '../../src/broker/store/master-key.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';
import { BrokerHarness, newRecipient, openSealed, TEST_AUDIENCE } from '../helpers/broker-harness.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const cli = (h: BrokerHarness, args: string[]) => runCli(args, { environment: adminEnvironment(h) });

function keyIds(h: BrokerHarness): string[] {
  const database = new Database(join(h.dataDir, DATABASE_FILE), { readonly: true });
  try {
    return (
      database.prepare('SELECT key_id FROM secret_versions ORDER BY name, version').all() as {
        key_id: string;
      }[]
    ).map((row) => row.key_id);
  } finally {
    database.close();
  }
}

/** Every secret opens with the right value through a real exchange. */
async function expectReadable(h: BrokerHarness, expected: Record<string, string>): Promise<void> {
  const recipient = newRecipient();
  const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
  const result = await h.exchange(token, Object.keys(expected), recipient);
  expect(result.status, result.text).toBe(200);
  const opened = Object.fromEntries(
    (result.json.secrets as { sealed: string }[]).map((entry) => {
      const payload = openSealed(entry.sealed, recipient) as { name: string; value: string };
      return [payload.name, payload.value];
    }),
  );
  expect(opened).toEqual(expected);
}

const keyA = randomBytes(32).toString('hex');
const keyB = randomBytes(32).toString('hex');
const fingerprint = (hex: string) => parseMasterKey(hex, 'test').fingerprint;

describe('key rotation', () => {
  it('moves from key A to key B: reads with either during the rotation, with B alone after rotate-key', async () => {
    const h = (harness = await BrokerHarness.start({ masterKeyHex: keyA }));
    const values = { 'prod/api/A': 'value-a', 'prod/api/B': 'value-b2', 'prod/api/C': 'value-c' };
    await h.setSecret('prod/api/B', 'value-b1');
    for (const [name, value] of Object.entries(values)) await h.setSecret(name, value);

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });
    await expectReadable(h, values);
    await h.setSecret('prod/api/D', 'written-under-b');
    const run = await cli(h, ['rotate-key', '--batch-size', '2']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `rotation complete: 4 version(s) re-encrypted by this run, 5 in all, every one under key id ${fingerprint(keyB)}.v1\n`,
    );
    expect(run.stderr).toContain('re-encrypted 5 of 5 (0 left)');
    expect(keyIds(h)).toEqual(Array(5).fill(`${fingerprint(keyB)}.v1`));

    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });
    await expectReadable(h, { ...values, 'prod/api/D': 'written-under-b' });
    await h.stopBroker();
    await expect(h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyA })).rejects.toBeInstanceOf(
      MasterKeyError,
    );
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });

    const audit = await h.admin('GET', '/audit?kind=admin&secret=batch');
    const batches = audit.json.records as {
      detail: { rewrapped: number; total: number; remaining: number };
    }[];
    expect(batches.map((record) => record.detail.rewrapped)).toEqual([2, 2]);
    expect(batches.at(-1)!.detail).toMatchObject({ total: 5, remaining: 0 });
  });

  it('without an old key, moves to a new version of the same key, kept across restarts', async () => {
    const h = (harness = await BrokerHarness.start({ masterKeyHex: keyA }));
    await h.setSecret('prod/api/A', 'value-a');
    const run = await cli(h, ['rotate-key']);
    expect(run.stderr).toContain(`moving to a new key version, ${fingerprint(keyA)}.v2`);
    expect(keyIds(h)).toEqual([`${fingerprint(keyA)}.v2`]);
    await h.stopBroker();
    await h.startBroker();
    await h.setSecret('prod/api/B', 'value-b');
    expect(keyIds(h)).toEqual([`${fingerprint(keyA)}.v2`, `${fingerprint(keyA)}.v2`]);
    await expectReadable(h, { 'prod/api/A': 'value-a', 'prod/api/B': 'value-b' });
  });

  it('an interrupted rotation completes on rerun with nothing lost, and the counts match what is stored', async () => {
    const h = (harness = await BrokerHarness.start({ masterKeyHex: keyA }));
    const values: Record<string, string> = {};
    for (let index = 0; index < 30; index += 1)
      values[`prod/api/S${index}`] = `value-${index}-${randomBytes(4).toString('hex')}`;
    for (const [name, value] of Object.entries(values)) await h.setSecret(name, value);
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB, SECRETS_BROKER_MASTER_KEY_OLD: keyA });

    // What a rotate-key killed after two batches leaves behind: two committed batches, then nothing.
    const begun = await h.admin('POST', '/keys/rotate');
    expect(begun.json).toMatchObject({
      target_key_id: `${fingerprint(keyB)}.v1`,
      new_key_version: false,
      total: 30,
      remaining: 30,
    });
    for (let batch = 0; batch < 2; batch += 1) {
      expect(
        (await h.admin('POST', '/keys/rotate/batch', { target_key_id: begun.json.target_key_id, size: 5 }))
          .status,
      ).toBe(200);
    }
    expect(keyIds(h).filter((id) => id.startsWith(fingerprint(keyB)))).toHaveLength(10);
    await expectReadable(h, values);

    const rerun = await cli(h, ['rotate-key', '--batch-size', '7']);
    expect(rerun.stdout).toContain('rotation complete: 20 version(s) re-encrypted by this run, 30 in all');
    await h.stopBroker();
    await h.startBroker({}, { SECRETS_BROKER_MASTER_KEY: keyB });
    await expectReadable(h, values);
    expect(new Set(keyIds(h))).toEqual(new Set([`${fingerprint(keyB)}.v1`]));
  });

  it('is refused to everyone but owners', async () => {
    const h = (harness = await BrokerHarness.start());
    const adminToken = (await h.admin('POST', '/tokens', { label: 'admin', role: 'admin' })).json
      .token as string;
    expect((await h.admin('POST', '/keys/rotate', undefined, adminToken)).status).toBe(403);
  });
});
