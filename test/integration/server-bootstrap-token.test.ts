/**
 * The server's owner token from its environment: SECRETS_BROKER_BOOTSTRAP_TOKEN, and the deprecated
 * SECRETS_BROKER_ADMIN_TOKEN (the admin CLI's variable), which a shell may hold for the CLI.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';

let harness: BrokerHarness;
const cliToken = `cli-${randomBytes(24).toString('hex')}`;

beforeAll(async () => {
  harness = await BrokerHarness.start();
});
afterAll(async () => {
  await harness.close();
});

interface LogRecord {
  readonly level: number;
  readonly msg: string;
  readonly variable?: string;
}

/** Restarts the broker with `environment` over the harness's, and returns what it logged while starting. */
async function restartWith(environment: Record<string, string>): Promise<LogRecord[]> {
  await harness.stopBroker();
  harness.logs.length = 0;
  await harness.startBroker({}, environment);
  return harness.logs.map((line) => JSON.parse(line) as LogRecord);
}

describe('the bootstrap owner token of the server', () => {
  it('is taken from SECRETS_BROKER_BOOTSTRAP_TOKEN, logged by name and never by value', async () => {
    const logs = await restartWith({ SECRETS_BROKER_ADMIN_TOKEN: '' });
    const whoami = await harness.admin('GET', '/whoami');
    expect(whoami.status).toBe(200);
    expect(whoami.json).toMatchObject({ role: 'owner', label: 'SECRETS_BROKER_BOOTSTRAP_TOKEN' });
    const taken = logs.filter((record) => record.variable === 'SECRETS_BROKER_BOOTSTRAP_TOKEN');
    expect(taken).toHaveLength(1);
    expect(taken[0]).toMatchObject({ level: 30 });
    expect(taken[0]!.msg).toContain('taken from SECRETS_BROKER_BOOTSTRAP_TOKEN');
    expect(logs.filter((record) => record.level >= 40)).toEqual([]);
    expect(harness.logs.join('\n')).not.toContain(harness.adminToken);
  });

  it('is still taken from SECRETS_BROKER_ADMIN_TOKEN alone, with a deprecation warning', async () => {
    const logs = await restartWith({
      SECRETS_BROKER_BOOTSTRAP_TOKEN: '',
      SECRETS_BROKER_ADMIN_TOKEN: harness.adminToken,
    });
    const whoami = await harness.admin('GET', '/whoami');
    expect(whoami.status).toBe(200);
    expect(whoami.json).toMatchObject({ role: 'owner', label: 'SECRETS_BROKER_ADMIN_TOKEN' });
    const warnings = logs.filter((record) => record.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(
      "SECRETS_BROKER_ADMIN_TOKEN as the server's owner token is deprecated: rename it to SECRETS_BROKER_BOOTSTRAP_TOKEN",
    );
    expect(harness.logs.join('\n')).not.toContain(harness.adminToken);
  });

  it('with both set to different values, uses SECRETS_BROKER_BOOTSTRAP_TOKEN and says the other is ignored', async () => {
    const logs = await restartWith({ SECRETS_BROKER_ADMIN_TOKEN: cliToken });
    expect((await harness.admin('GET', '/whoami')).status).toBe(200);
    // The CLI's token exported in the same shell is not an owner token of this server.
    expect((await harness.admin('GET', '/whoami', undefined, cliToken)).status).toBe(401);
    const warnings = logs.filter((record) => record.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(
      'the server uses SECRETS_BROKER_BOOTSTRAP_TOKEN and ignores SECRETS_BROKER_ADMIN_TOKEN',
    );
    expect(harness.logs.join('\n')).not.toContain(cliToken);
  });

  it('with both set to the same value, just uses it', async () => {
    const logs = await restartWith({ SECRETS_BROKER_ADMIN_TOKEN: harness.adminToken });
    expect((await harness.admin('GET', '/whoami')).status).toBe(200);
    expect(logs.filter((record) => record.level >= 40)).toEqual([]);
  });

  it('refuses a short one, naming the variable it came from', async () => {
    await harness.stopBroker();
    await expect(harness.startBroker({}, { SECRETS_BROKER_BOOTSTRAP_TOKEN: 'short' })).rejects.toThrow(
      'SECRETS_BROKER_BOOTSTRAP_TOKEN is 5 characters; use at least 32',
    );
    await expect(
      harness.startBroker({}, { SECRETS_BROKER_BOOTSTRAP_TOKEN: '', SECRETS_BROKER_ADMIN_TOKEN: 'short' }),
    ).rejects.toThrow('SECRETS_BROKER_ADMIN_TOKEN is 5 characters; use at least 32');
    await harness.startBroker();
  });

  it('never turns a token the broker issued into an owner token, whatever its role', async () => {
    await harness.startBroker();
    const created = await harness.admin('POST', '/tokens', { label: 'reader', role: 'auditor' });
    expect(created.status).toBe(201);
    const auditorToken = (created.json as { token: string }).token;

    // The CLI's token left exported in the shell that starts the server: ignored, with a warning.
    const logs = await restartWith({
      SECRETS_BROKER_BOOTSTRAP_TOKEN: '',
      SECRETS_BROKER_ADMIN_TOKEN: auditorToken,
    });
    const whoami = await harness.admin('GET', '/whoami', undefined, auditorToken);
    expect(whoami.status).toBe(200);
    expect(whoami.json).toMatchObject({ role: 'auditor', label: 'reader' });
    expect((await harness.admin('POST', '/tokens', { label: 'x', role: 'owner' }, auditorToken)).status).toBe(
      403,
    );
    const warnings = logs.filter((record) => record.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('SECRETS_BROKER_ADMIN_TOKEN holds a token the broker issued');
    expect(harness.logs.join('\n')).not.toContain(auditorToken);

    // Given explicitly as the bootstrap token: the server refuses to start.
    await harness.stopBroker();
    await expect(harness.startBroker({}, { SECRETS_BROKER_BOOTSTRAP_TOKEN: auditorToken })).rejects.toThrow(
      'SECRETS_BROKER_BOOTSTRAP_TOKEN holds a token the broker issued',
    );
    await harness.startBroker();
  });
});
