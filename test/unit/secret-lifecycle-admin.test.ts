/**
 * Secret conditions and versions through AdminService, with an injected clock: what each write stores and audits
 * (never a value), what listings show, and every bad input refused with nothing changed.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directAdminService } from '../helpers/admin-service.js';
import type { AdminIdentity } from '../../src/broker/admin/admin-credentials.js';
import { AdminService, type AdminContext } from '../../src/broker/admin/admin-service.js';
import { BrokerError } from '../../src/broker/errors.js';
import type { BrokerMetrics } from '../../src/broker/metrics.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { SecretVault } from '../../src/broker/store/secret-vault.js';
import type { SecretConditionsChange } from '../../src/protocol/admin-api.js';
import { ManualClock } from '../helpers/broker-harness.js';

const owner: AdminIdentity = { tokenId: '00000000000000a1', label: 'the owner', role: 'owner' };
const auditor: AdminIdentity = { tokenId: '00000000000000a3', label: 'an auditor', role: 'auditor' };
const START = '2030-01-01T00:00:00.000Z';
const VALUE = `lifecycle-value-${randomBytes(8).toString('hex')}`;

let stores: Stores;
let admin: AdminService;
let vault: SecretVault;
let clock: ManualClock;
let metrics: BrokerMetrics;
let calls = 0;

function context(): AdminContext {
  calls += 1;
  return { requestId: `lifecycle-${calls}`, sourceIp: '192.0.2.9' };
}

beforeEach(() => {
  clock = new ManualClock(START);
  ({ admin, stores, vault, metrics } = directAdminService(clock));
});

afterEach(async () => {
  await stores.close();
});

async function lastAudit(): Promise<Record<string, unknown>> {
  const head = await stores.audit.head();
  const [entry] = await stores.audit.page((head?.seq ?? 1) - 1, 1);
  return JSON.parse(entry?.record ?? '{}') as Record<string, unknown>;
}

async function refused(call: Promise<unknown>): Promise<BrokerError> {
  const error: unknown = await call.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(BrokerError);
  return error as BrokerError;
}

const set = (name: string, conditions?: SecretConditionsChange) =>
  admin.setSecret(
    owner,
    { name, value: VALUE, dryRun: false, ...(conditions === undefined ? {} : { conditions }) },
    context(),
  );

describe('secret conditions', () => {
  it('are stored with a value, shown in the listing and audited with what changed', async () => {
    await set('prod/A', {
      expires_at: '2030-01-05T00:00:00+02:00',
      max_reads: { count: 2, period_seconds: 3600 },
      rotate_after_reads: 3,
      description: 'the database password',
      owner: 'team-db',
    });
    expect(await lastAudit()).toMatchObject({
      action: 'secrets.set',
      target: 'prod/A',
      detail: {
        version: 1,
        expires_at: '2030-01-04T22:00:00.000Z',
        max_reads: '2/3600s',
        rotate_after_reads: 3,
        description: 'the database password',
        owner: 'team-db',
      },
    });
    const [listed] = await admin.listSecrets(owner, '', context());
    expect(listed).toEqual({
      name: 'prod/A',
      version: 1,
      versions: 1,
      updated_at: expect.any(String),
      expires_at: '2030-01-04T22:00:00.000Z',
      max_reads: { count: 2, period_seconds: 3600 },
      rotate_after_reads: 3,
      description: 'the database password',
      owner: 'team-db',
      releases: 0,
      reads_in_window: 0,
      expired: false,
      budget_exhausted: false,
      rotation_required: false,
    });
  });

  it('are changed without a new version, cleared with null, and the listing flags what an exchange would refuse', async () => {
    await set('prod/A');
    const updated = await admin.updateSecret(
      owner,
      {
        name: 'prod/A',
        conditions: {
          expires_at: '2030-01-02T00:00:00Z',
          max_reads: { count: 1, period_seconds: 60 },
          rotate_after_reads: 1,
        },
      },
      context(),
    );
    expect(updated).toEqual({
      name: 'prod/A',
      version: 1,
      conditions: {
        expires_at: '2030-01-02T00:00:00.000Z',
        max_reads: { count: 1, period_seconds: 60 },
        rotate_after_reads: 1,
        description: null,
        owner: null,
      },
    });
    expect(await lastAudit()).toMatchObject({
      action: 'secrets.update',
      outcome: 'allowed',
      detail: {
        version: 1,
        expires_at: '2030-01-02T00:00:00.000Z',
        max_reads: '1/60s',
        rotate_after_reads: 1,
      },
    });
    const found = await vault.find([{ name: 'prod/A', version: undefined }]);
    expect(await vault.recordReleases(found, clock.now())).toMatchObject({ refused: undefined });
    clock.advance(86_400);
    const [flags] = await admin.listSecrets(owner, '', context());
    expect(flags).toMatchObject({
      expired: true,
      budget_exhausted: false,
      rotation_required: true,
      releases: 1,
    });
    clock.set(START);
    expect((await admin.listSecrets(owner, '', context()))[0]).toMatchObject({
      budget_exhausted: true,
      reads_in_window: 1,
    });

    await admin.updateSecret(
      owner,
      { name: 'prod/A', conditions: { expires_at: null, max_reads: null, rotate_after_reads: null } },
      context(),
    );
    expect(await lastAudit()).toMatchObject({
      detail: { expires_at: 'cleared', max_reads: 'cleared', rotate_after_reads: 'cleared' },
    });
    expect((await admin.listSecrets(owner, '', context()))[0]).toMatchObject({
      expires_at: null,
      max_reads: null,
      rotate_after_reads: null,
      expired: false,
      budget_exhausted: false,
      rotation_required: false,
    });
    expect((await vault.history('prod/A'))?.versions).toHaveLength(1);
  });

  it('refuses every bad value with a clear message and changes nothing', async () => {
    await set('prod/A', { owner: 'kept' });
    const bad: [SecretConditionsChange, string][] = [
      [{ expires_at: '2029-12-31T23:59:59Z' }, 'is not in the future'],
      [{ expires_at: START }, 'is not in the future'],
      [{ expires_at: 'tomorrow' }, 'ISO 8601 date-time'],
      [{ expires_at: '2030-02-01' }, 'ISO 8601 date-time'],
      [{ expires_at: '2030-02-30T00:00:00Z' }, 'ISO 8601 date-time'],
      [{ expires_at: '2030-02-01T24:00:00Z' }, 'ISO 8601 date-time'],
      [{ expires_at: '2030-02-01T10:00:00+25:00' }, 'ISO 8601 date-time'],
      [{ max_reads: { count: 0, period_seconds: 60 } }, '"max_reads.count" must be a whole number from 1'],
      [
        { max_reads: { count: 5, period_seconds: 0 } },
        '"max_reads.period_seconds" must be a whole number from 1',
      ],
      [{ max_reads: { count: 5, period_seconds: 400 * 86_400 } }, '"max_reads.period_seconds"'],
      [{ rotate_after_reads: 0 }, '"rotate_after_reads" must be a whole number from 1'],
      [{ rotate_after_reads: 1.5 }, '"rotate_after_reads"'],
      [{ description: 'two\nlines' }, '"description" must be 1 to 200 printable characters'],
      [{ description: '   ' }, '"description"'],
      [{ owner: 'x'.repeat(101) }, '"owner" must be 1 to 100 printable characters'],
      [{ owner: 'bidi\u202e' }, '"owner"'],
    ];
    for (const [conditions, message] of bad) {
      const onUpdate = await refused(admin.updateSecret(owner, { name: 'prod/A', conditions }, context()));
      expect(onUpdate.code, JSON.stringify(conditions)).toBe('invalid_request');
      expect(onUpdate.message, JSON.stringify(conditions)).toContain(message);
      const onSet = await refused(set('prod/A', conditions));
      expect(onSet.message).toContain(message);
    }
    expect(
      await refused(admin.updateSecret(owner, { name: 'prod/A', conditions: {} }, context())),
    ).toMatchObject({
      code: 'invalid_request',
      message: 'the update changes nothing',
    });
    expect(
      await refused(
        admin.updateSecret(owner, { name: 'prod/missing', conditions: { owner: 'x' } }, context()),
      ),
    ).toMatchObject({
      code: 'not_found',
    });
    const [listed] = await admin.listSecrets(owner, '', context());
    expect(listed).toMatchObject({ version: 1, owner: 'kept', expires_at: null, max_reads: null });
  });

  it('a dry run checks the conditions too and stores nothing', async () => {
    await set('prod/A');
    const error = await refused(
      admin.setSecret(
        owner,
        { name: 'prod/A', value: VALUE, dryRun: true, conditions: { rotate_after_reads: 0 } },
        context(),
      ),
    );
    expect(error.code).toBe('invalid_request');
    await admin.setSecret(
      owner,
      { name: 'prod/A', value: VALUE, dryRun: true, conditions: { owner: 'dry' } },
      context(),
    );
    expect((await admin.listSecrets(owner, '', context()))[0]).toMatchObject({ version: 1, owner: null });
  });

  it('an auditor may list and see versions, never write', async () => {
    await set('prod/A');
    expect(await admin.listSecrets(auditor, '', context())).toHaveLength(1);
    expect((await admin.secretVersions(auditor, 'prod/A', context())).versions).toHaveLength(1);
    for (const call of [
      () => admin.updateSecret(auditor, { name: 'prod/A', conditions: { owner: 'x' } }, context()),
      () => admin.rollbackSecret(auditor, { name: 'prod/A', to: 1 }, context()),
      () => admin.deleteSecret(auditor, 'prod/A', context(), true),
    ]) {
      expect((await refused(call())).code).toBe('forbidden');
    }
    expect((await admin.listSecrets(owner, '', context()))[0]).toMatchObject({ version: 1, owner: null });
  });

  it('counts secrets expiring within 7 days when the metrics are scraped', async () => {
    await set('prod/soon', { expires_at: '2030-01-03T00:00:00Z' });
    await set('prod/later', { expires_at: '2030-03-01T00:00:00Z' });
    await set('prod/never');
    const scraped = await metrics.registry.getSingleMetricAsString('secrets_broker_secrets_expiring_soon');
    expect(scraped).toContain('secrets_broker_secrets_expiring_soon 1');
    clock.advance(55 * 86_400);
    expect(await metrics.registry.getSingleMetricAsString('secrets_broker_secrets_expiring_soon')).toContain(
      'secrets_broker_secrets_expiring_soon 1',
    );
    clock.advance(30 * 86_400);
    expect(await metrics.registry.getSingleMetricAsString('secrets_broker_secrets_expiring_soon')).toContain(
      'secrets_broker_secrets_expiring_soon 0',
    );
  });
});

describe('secret versions', () => {
  it('lists number, time, length, keyed fingerprint and who set it, newest first, never a value', async () => {
    await set('prod/A');
    await admin.setSecret(owner, { name: 'prod/A', value: 'another value', dryRun: false }, context());
    const history = await admin.secretVersions(owner, 'prod/A', context());
    expect(history).toEqual({
      name: 'prod/A',
      current_version: 2,
      last_version: 2,
      more: false,
      versions: [
        {
          version: 2,
          created_at: expect.any(String),
          bytes: 13,
          fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
          created_by: { token_id: owner.tokenId, label: owner.label },
          current: true,
        },
        expect.objectContaining({ version: 1, bytes: Buffer.byteLength(VALUE), current: false }),
      ],
    });
    // Keyed: not the SHA-256 of the value, so a guess cannot be checked against it without the master key.
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update('another value').digest('hex')).not.toContain(
      history.versions[0]?.fingerprint,
    );
    expect(JSON.stringify(history)).not.toContain(VALUE);
    expect((await refused(admin.secretVersions(owner, 'prod/missing', context()))).code).toBe('not_found');
  });

  it('rollback stores an old value as a new current version, audited; a missing or purged version is refused', async () => {
    await set('prod/A');
    await admin.setSecret(owner, { name: 'prod/A', value: 'second value', dryRun: false }, context());
    expect(await admin.rollbackSecret(owner, { name: 'prod/A', to: 1 }, context())).toEqual({
      name: 'prod/A',
      from: 1,
      version: 3,
    });
    expect(await lastAudit()).toMatchObject({
      action: 'secrets.rollback',
      target: 'prod/A',
      detail: { from: 1, version: 3 },
    });
    expect(await vault.readCurrent(['prod/A'])).toEqual([{ name: 'prod/A', version: 3, value: VALUE }]);
    const history = await admin.secretVersions(owner, 'prod/A', context());
    expect(history.versions[0]?.fingerprint).toBe(history.versions[2]?.fingerprint);

    const missing = await refused(admin.rollbackSecret(owner, { name: 'prod/A', to: 9 }, context()));
    expect(missing).toMatchObject({
      code: 'not_found',
      message: 'version 9 of "prod/A" is not kept: never stored, or purged',
    });
    expect(missing.hint).toContain('secret versions prod/A');
    expect((await refused(admin.rollbackSecret(owner, { name: 'prod/A', to: 0 }, context()))).code).toBe(
      'invalid_request',
    );
    expect(await lastAudit()).toMatchObject({
      action: 'secrets.rollback',
      outcome: 'denied',
      code: 'invalid_request',
    });

    // A deleted name keeps its history, and a rollback restores it; after a purge nothing can be.
    await admin.deleteSecret(owner, 'prod/A', context());
    expect(await lastAudit()).toMatchObject({ action: 'secrets.delete', detail: { purge: false } });
    expect(await vault.find([{ name: 'prod/A', version: 2 }])).toEqual([]);
    expect(await admin.listSecrets(owner, '', context())).toEqual([]);
    expect((await admin.secretVersions(owner, 'prod/A', context())).current_version).toBeNull();
    expect(await admin.rollbackSecret(owner, { name: 'prod/A', to: 2 }, context())).toMatchObject({
      version: 4,
    });
    expect(await vault.readCurrent(['prod/A'])).toEqual([
      { name: 'prod/A', version: 4, value: 'second value' },
    ]);
    await admin.deleteSecret(owner, 'prod/A', context(), true);
    expect(await lastAudit()).toMatchObject({ action: 'secrets.delete', detail: { purge: true } });
    expect((await refused(admin.rollbackSecret(owner, { name: 'prod/A', to: 2 }, context()))).code).toBe(
      'not_found',
    );
    expect(await admin.secretVersions(owner, 'prod/A', context())).toMatchObject({
      versions: [],
      last_version: 4,
    });
    expect((await refused(admin.deleteSecret(owner, 'prod/A', context(), true))).message).toBe(
      'no version of "prod/A" is kept',
    );
    // Numbering continues.
    expect((await set('prod/A')).version).toBe(5);
  });

  it('rollback of a version whose ciphertext does not open is refused as unavailable, storing nothing', async () => {
    await set('prod/A');
    await set('prod/A');
    const stored = await stores.secrets.version('prod/A', 1);
    await stores.secrets.replaceEncryption([
      { record: { ...stored!, ciphertext: Buffer.from('altered') }, fromKeyId: stored!.keyId },
    ]);
    const error = await refused(admin.rollbackSecret(owner, { name: 'prod/A', to: 1 }, context()));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('version 1 failed authentication');
    expect((await vault.history('prod/A'))?.lastVersion).toBe(2);
  });

  it('no audit record holds a value', async () => {
    await set('prod/A', { owner: 'o' });
    await admin.rollbackSecret(owner, { name: 'prod/A', to: 1 }, context());
    await admin.secretVersions(owner, 'prod/A', context());
    await admin.deleteSecret(owner, 'prod/A', context(), true);
    const records = await stores.audit.page(0, 100);
    expect(records.length).toBeGreaterThan(3);
    for (const entry of records) expect(entry.record).not.toContain(VALUE);
  });
});
