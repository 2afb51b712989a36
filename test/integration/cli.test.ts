import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { adminEnvironment, runCli, type CliOptions, type CliRun } from '../helpers/cli.js';
import { BrokerHarness, newRecipient, openSealed, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { freePort } from '../helpers/free-port.js';

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start();
});

afterAll(async () => {
  await harness?.close();
});

const cli = (args: string[], options: CliOptions = {}): Promise<CliRun> =>
  runCli(args, { ...options, environment: { ...adminEnvironment(harness), ...options.environment } });

async function released(name: string): Promise<unknown> {
  const recipient = newRecipient();
  const result = await harness.exchange(
    await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE)),
    [name],
    recipient,
  );
  expect(result.status).toBe(200);
  return openSealed((result.json.secrets as { sealed: string }[])[0]!.sealed, recipient);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('secrets-broker secret', () => {
  it('set --from-stdin stores the value and confirms name, version, length and fingerprint only', async () => {
    const run = await cli(['secret', 'set', 'prod/api/FROM_STDIN', '--from-stdin'], {
      stdin: 'stdin-value-1\n',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `set prod/api/FROM_STDIN version 1 (13 bytes, sha256 ${sha256('stdin-value-1')})\n`,
    );
    expect(run.stdout + run.stderr).not.toContain('stdin-value-1');
    expect(await released('prod/api/FROM_STDIN')).toMatchObject({ value: 'stdin-value-1', version: 1 });
  });

  it('set --from-file, --from-env and --value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-'));
    await writeFile(join(dir, 'value'), 'line one\nline two\n');
    expect((await cli(['secret', 'set', 'prod/api/FROM_FILE', '--from-file', join(dir, 'value')])).code).toBe(
      0,
    );
    expect(await released('prod/api/FROM_FILE')).toMatchObject({ value: 'line one\nline two\n' });

    expect(
      (
        await cli(['secret', 'set', 'prod/api/FROM_ENV', '--from-env', 'MY_VALUE'], {
          environment: { MY_VALUE: 'env-value' },
        })
      ).code,
    ).toBe(0);
    expect(await released('prod/api/FROM_ENV')).toMatchObject({ value: 'env-value' });

    const inline = await cli(['secret', 'set', 'prod/api/INLINE', '--value', 'inline-value']);
    expect(inline.code).toBe(0);
    expect(inline.stderr).toContain('warning: --value leaves the secret in your shell history');
    expect(inline.stdout + inline.stderr).not.toContain('inline-value');
  });

  it('--confirm-fingerprint stores only a matching value', async () => {
    const wrong = await cli(
      ['secret', 'set', 'prod/api/CONFIRMED', '--from-stdin', '--confirm-fingerprint', sha256('other')],
      { stdin: 'confirmed-value' },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('nothing was stored');
    expect(wrong.stderr).not.toContain('confirmed-value');
    expect((await cli(['secret', 'list', 'prod/api/CONFIRMED'])).stdout).not.toContain('CONFIRMED');
    const right = await cli(
      [
        'secret',
        'set',
        'prod/api/CONFIRMED',
        '--from-stdin',
        '--confirm-fingerprint',
        sha256('confirmed-value').toUpperCase(),
      ],
      {
        stdin: 'confirmed-value',
      },
    );
    expect(right.code).toBe(0);
  });

  it('--dry-run checks and reports the next version but stores nothing', async () => {
    await cli(['secret', 'set', 'prod/api/DRY', '--value', 'v1']);
    const dry = await cli(['secret', 'set', 'prod/api/DRY', '--from-stdin', '--dry-run'], { stdin: 'v2' });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: would set prod/api/DRY version 2');
    expect(await released('prod/api/DRY')).toMatchObject({ value: 'v1', version: 1 });
  });

  it('list shows names and versions, never values; delete keeps the versions, --purge destroys them', async () => {
    await cli(['secret', 'set', 'list/A', '--value', 'list-value-a']);
    await cli(['secret', 'set', 'list/A', '--value', 'list-value-a2']);
    const list = await cli(['secret', 'list', 'list/']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+VERSION\s+VERSIONS\s+UPDATED\s+EXPIRES.*\nlist\/A\s+2\s+2\s+\d{4}-/);
    expect(list.stdout).not.toContain('list-value');
    const json = JSON.parse((await cli(['secret', 'list', 'list/', '--json'])).stdout) as unknown[];
    expect(json).toMatchObject([{ name: 'list/A', version: 2, versions: 2 }]);
    expect((await cli(['secret', 'delete', 'list/A'])).stdout).toContain(
      'deleted list/A; its versions are kept',
    );
    expect((await cli(['secret', 'list', 'list/'])).stdout).not.toContain('list/A');
    expect(JSON.parse((await cli(['secret', 'versions', 'list/A', '--json'])).stdout)).toHaveLength(2);
    const again = await cli(['secret', 'delete', 'list/A']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no secret is named "list/A"');
  });

  it('explains bad input and changes nothing', async () => {
    const badName = await cli(['secret', 'set', 'prod/../x', '--value', 'v']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('".." segment');
    const noSource = await cli(['secret', 'set', 'prod/x']);
    expect(noSource.stderr).toContain('say where the value comes from');
    const empty = await cli(['secret', 'set', 'prod/x', '--from-stdin'], { stdin: '' });
    expect(empty.stderr).toContain('the value is empty');
    const noToken = await cli(['secret', 'list'], { environment: { SECRETS_BROKER_ADMIN_TOKEN: '' } });
    expect(noToken.stderr).toContain('SECRETS_BROKER_ADMIN_TOKEN is not set');
    const badToken = await cli(['secret', 'list'], {
      environment: { SECRETS_BROKER_ADMIN_TOKEN: 'sbadm_0123456789abcdef_' + 'A'.repeat(43) },
    });
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('(unauthorized)');
    const closedPort = await freePort();
    const down = await cli(['secret', 'list'], {
      environment: { SECRETS_BROKER_URL: `http://127.0.0.1:${closedPort}` },
    });
    expect(down.stderr).toContain(`cannot reach the broker at http://127.0.0.1:${closedPort} (ECONNREFUSED)`);
    expect((await cli(['secret', 'list', 'prod/x'])).stdout).toMatch(
      /^NAME {2}VERSION {2}VERSIONS {2}UPDATED {2}EXPIRES[^\n]*\n$/,
    );
  });

  it('the bootstrap owner token is made once, on a first start without SECRETS_BROKER_BOOTSTRAP_TOKEN', async () => {
    const fresh = await BrokerHarness.start();
    try {
      // The harness passes SECRETS_BROKER_BOOTSTRAP_TOKEN, so no token is stored yet: restarting without it is a first start.
      await fresh.stopBroker();
      await fresh.startBroker({}, { SECRETS_BROKER_BOOTSTRAP_TOKEN: '' });
      const token = fresh.broker.bootstrapToken!;
      expect(token).toMatch(/^sbadm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      expect((await fresh.admin('GET', '/whoami', undefined, token)).json).toMatchObject({
        role: 'owner',
        label: 'bootstrap owner',
      });
      expect((await fresh.admin('GET', '/whoami', undefined, `${token.slice(0, -1)}x`)).status).toBe(401);
      expect((await fresh.admin('GET', '/whoami', undefined, fresh.adminToken)).status).toBe(401);
      await fresh.stopBroker();
      await fresh.startBroker({}, { SECRETS_BROKER_BOOTSTRAP_TOKEN: '' });
      expect(fresh.broker.bootstrapToken).toBeUndefined();
      expect((await fresh.admin('GET', '/whoami', undefined, token)).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});

describe('secrets-broker policy check', () => {
  it('accepts a valid policy and summarises it', async () => {
    const run = await cli(['policy', 'check', 'examples/policy.yaml']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'examples/policy.yaml: valid: audience https://secrets.example.com; 2 issuer(s)',
    );
  });

  it('refuses an invalid one with file, line and column', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'version: 1\naudience: a\nissuers:\n  gh:\n    url: https://x.example\n    colour: blue\nrules: []\n',
    );
    const run = await cli(['policy', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:6:5: issuers.gh.colour: unknown key "colour"`);
  });
});
