/**
 * The secret lifecycle through the admin CLI against the real broker: conditions on set and update (and how each
 * is cleared), list, versions, rollback, delete and purge, every bad input refused with exit 2 and nothing
 * changed, and no value anywhere in what the CLI printed, the broker answered or logged, or the audit holds.
 */
import { readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { adminEnvironment, runCli, type CliRun } from '../helpers/cli.js';

let harness: BrokerHarness;
const runs: CliRun[] = [];
const values = [canary('first'), canary('second'), canary('third')];

beforeAll(async () => {
  harness = await BrokerHarness.start();
});

afterAll(async () => {
  await harness?.close();
});

async function cli(args: readonly string[], environment: Record<string, string> = {}): Promise<CliRun> {
  const run = await runCli(args, { environment: { ...adminEnvironment(harness), ...environment } });
  runs.push(run);
  return run;
}

async function json(args: readonly string[]): Promise<unknown> {
  const run = await cli([...args, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as unknown;
}

interface Listed {
  name: string;
  version: number;
  [key: string]: unknown;
}

async function listed(name: string): Promise<Listed | undefined> {
  return ((await json(['secret', 'list', name])) as Listed[]).find((entry) => entry.name === name);
}

describe('secret set and update', () => {
  it('set stores conditions with the value; update changes them without a new version; "none" clears each', async () => {
    const before = Date.now();
    const set = await cli(
      [
        'secret',
        'set',
        'life/A',
        '--from-env',
        'VALUE',
        '--expires',
        '30d',
        '--max-reads',
        '100/1d',
        '--rotate-after-reads',
        '50',
        '--description',
        'the API database',
        '--owner',
        'team-api',
      ],
      { VALUE: values[0]! },
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(
      /^set life\/A version 1 \(\d+ bytes, sha256 [0-9a-f]{64}\); expires 20\S+Z, max reads 100\/1d, rotate after reads 50, owner team-api, description the API database\n$/,
    );
    const entry = await listed('life/A');
    expect(entry).toMatchObject({
      version: 1,
      max_reads: { count: 100, period_seconds: 86_400 },
      rotate_after_reads: 50,
      description: 'the API database',
      owner: 'team-api',
      expired: false,
      budget_exhausted: false,
      rotation_required: false,
    });
    const expires = Date.parse(entry?.expires_at as string);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);

    const update = await cli([
      'secret',
      'update',
      'life/A',
      '--expires',
      '2099-01-01T00:00:00+01:00',
      '--owner',
      'none',
    ]);
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toBe(
      'updated life/A (version 1 unchanged); now: expires 2098-12-31T23:00:00.000Z, max reads 100/1d, rotate after reads 50, description the API database\n',
    );
    expect(
      await json([
        'secret',
        'update',
        'life/A',
        '--max-reads',
        'none',
        '--rotate-after-reads',
        'none',
        '--description',
        'none',
        '--expires',
        'none',
      ]),
    ).toEqual({
      name: 'life/A',
      version: 1,
      conditions: {
        expires_at: null,
        max_reads: null,
        rotate_after_reads: null,
        description: null,
        owner: null,
      },
    });
    const cleared = await cli(['secret', 'update', 'life/A', '--owner', 'ops']);
    expect(cleared.stdout).toBe('updated life/A (version 1 unchanged); now: owner ops\n');
    // A set without condition flags keeps the conditions.
    await cli(['secret', 'set', 'life/A', '--from-env', 'VALUE'], { VALUE: values[1]! });
    expect(await listed('life/A')).toMatchObject({ version: 2, versions: 2, owner: 'ops' });
  });

  it('list shows conditions in its table, and dashes where none is set', async () => {
    await cli(
      [
        'secret',
        'set',
        'life/T',
        '--from-env',
        'VALUE',
        '--max-reads',
        '5/90m',
        '--rotate-after-reads',
        '3',
        '--owner',
        'team t',
      ],
      {
        VALUE: values[2]!,
      },
    );
    await cli(['secret', 'set', 'life/U', '--from-env', 'VALUE'], { VALUE: values[2]! });
    const table = await cli(['secret', 'list', 'life/']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^NAME +VERSION +VERSIONS +UPDATED +EXPIRES +READS +ROTATE +OWNER +DESCRIPTION +STATUS$/,
    );
    expect(lines.find((line) => line.startsWith('life/T '))).toMatch(
      / - +0\/5 per 90m +0\/3 +team t +- +ok$/,
    );
    expect(lines.find((line) => line.startsWith('life/U '))).toMatch(/ - +- +- +- +- +ok$/);
  });

  it('escapes what it prints of stored text, even text the broker would not have taken', async () => {
    await cli(['secret', 'set', 'life/E', '--from-env', 'VALUE'], { VALUE: values[2]! });
    const database = new Database(join(harness.dataDir, DATABASE_FILE));
    try {
      database
        .prepare("UPDATE secret_heads SET owner = ?, description = ? WHERE name = 'life/E'")
        .run('\x1b[31mred', 'line\nbreak\u202e');
    } finally {
      database.close();
    }
    const table = await cli(['secret', 'list', 'life/E']);
    expect(table.stdout).toContain('\\x1b[31mred');
    expect(table.stdout).toContain('line\\nbreak\\u202e');
    expect(table.stdout).not.toContain('\x1b');
    const updated = await cli(['secret', 'update', 'life/E', '--rotate-after-reads', '9']);
    expect(updated.stdout).toContain('owner \\x1b[31mred, description line\\nbreak\\u202e');
    expect(updated.stdout.trimEnd()).not.toContain('\n');
  });

  it('refuses every bad flag with exit 2 before anything is sent, and changes nothing', async () => {
    await cli(['secret', 'set', 'life/B', '--from-env', 'VALUE', '--owner', 'kept'], { VALUE: values[0]! });
    const bad: [string[], string][] = [
      [['--expires', 'tomorrow'], 'ISO 8601 date-time'],
      [['--expires', '2020-01-01T00:00:00Z'], 'must be in the future'],
      [['--expires', '2099-02-30T00:00:00Z'], 'ISO 8601 date-time'],
      [['--expires', '2099-01-01'], 'ISO 8601 date-time'],
      [['--expires', '10'], 'ISO 8601 date-time'],
      [['--expires', '0s'], 'must be in the future'],
      [['--max-reads', '100'], 'It must be N/PERIOD'],
      [['--max-reads', '0/1d'], 'It must be N/PERIOD'],
      [['--max-reads', '10/0s'], 'It must be N/PERIOD'],
      [['--max-reads', '10/400d'], 'It must be N/PERIOD'],
      [['--max-reads', '10/1w'], 'It must be N/PERIOD'],
      [['--max-reads', '-1/1d'], 'It must be N/PERIOD'],
      [['--max-reads', '/1d'], 'It must be N/PERIOD'],
      [['--rotate-after-reads', '0'], 'whole number from 1'],
      [['--rotate-after-reads', 'x'], 'whole number from 1'],
      [['--description', 'two\nlines'], 'printable characters on one line'],
      [['--owner', ''], 'printable characters on one line'],
      [['--owner', 'o'.repeat(101)], '1 to 100 printable characters'],
    ];
    for (const [flags, message] of bad) {
      for (const verb of [
        ['secret', 'set', 'life/B', '--from-env', 'VALUE'],
        ['secret', 'update', 'life/B'],
      ]) {
        const run = await cli([...verb, ...flags], { VALUE: values[1]! });
        expect(run.code, `${verb[1]} ${flags.join(' ')}`).toBe(2);
        expect(run.stderr, `${verb[1]} ${flags.join(' ')}`).toContain(message);
        expect(run.stdout).toBe('');
      }
    }
    const nothing = await cli(['secret', 'update', 'life/B']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('say what to change');
    const missing = await cli(['secret', 'update', 'life/none-such', '--owner', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no secret is named "life/none-such" (not_found)');
    expect(await listed('life/B')).toMatchObject({
      version: 1,
      versions: 1,
      owner: 'kept',
      expires_at: null,
    });
  });
});

describe('secret versions, rollback and delete', () => {
  it('versions lists each kept version; rollback makes an old value current as a new version', async () => {
    await cli(['secret', 'set', 'life/V', '--from-env', 'VALUE'], { VALUE: values[0]! });
    await cli(['secret', 'set', 'life/V', '--from-env', 'VALUE'], { VALUE: values[1]! });
    const table = await cli(['secret', 'versions', 'life/V']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^VERSION +CREATED +BYTES +FINGERPRINT +SET BY +CURRENT$/);
    const setBy = 'SECRETS_BROKER_BOOTSTRAP_TOKEN \\(environment\\)';
    expect(lines[1]).toMatch(new RegExp(`^2 +\\S+Z +\\d+ +[0-9a-f]{12} +${setBy} +\\*$`));
    expect(lines[2]).toMatch(new RegExp(`^1 +\\S+Z +\\d+ +[0-9a-f]{12} +${setBy}$`));

    const versions = (await json(['secret', 'versions', 'life/V'])) as Record<string, unknown>[];
    expect(versions).toEqual([
      {
        version: 2,
        created_at: expect.any(String),
        bytes: Buffer.byteLength(values[1]!),
        fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
        created_by: { token_id: expect.any(String), label: expect.any(String) },
        current: true,
      },
      expect.objectContaining({ version: 1, current: false }),
    ]);

    const rollback = await cli(['secret', 'rollback', 'life/V', '--to', '1']);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toBe(
      'rolled back life/V: version 3 holds the value of version 1 and is current\n',
    );
    const after = (await json(['secret', 'versions', 'life/V'])) as {
      version: number;
      fingerprint: string;
    }[];
    expect(after.map((kept) => kept.version)).toEqual([3, 2, 1]);
    expect(after[0]?.fingerprint).toBe(after[2]?.fingerprint);
    expect(await json(['secret', 'rollback', 'life/V', '--to', '2'])).toEqual({
      name: 'life/V',
      from: 2,
      version: 4,
    });

    const missing = await cli(['secret', 'rollback', 'life/V', '--to', '9']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'version 9 of "life/V" is not kept: never stored, or purged (not_found)',
    );
    for (const args of [
      ['secret', 'rollback', 'life/V'],
      ['secret', 'rollback', 'life/V', '--to', '0'],
      ['secret', 'rollback', 'life/V', '--to', 'two'],
      ['secret', 'rollback', 'life/V', '--to', '2147483648'],
    ]) {
      expect((await cli(args)).code, args.join(' ')).toBe(2);
    }
    // The highest version a request may name is asked about, and is not kept.
    expect((await cli(['secret', 'rollback', 'life/V', '--to', '2147483647'])).stderr).toContain(
      '(not_found)',
    );
    expect((await cli(['secret', 'versions', 'life/none-such'])).stderr).toContain('(not_found)');
    expect(await listed('life/V')).toMatchObject({ version: 4, versions: 4 });
  });

  it('delete keeps the history (listed nowhere, restorable); --purge destroys it; numbering continues', async () => {
    await cli(['secret', 'set', 'life/D', '--from-env', 'VALUE', '--owner', 'o'], { VALUE: values[2]! });
    const deleted = await cli(['secret', 'delete', 'life/D']);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('deleted life/D; its versions are kept');
    expect(await listed('life/D')).toBeUndefined();
    const history = await cli(['secret', 'versions', 'life/D']);
    expect(history.stdout).toContain('life/D is deleted: no version is released');
    expect((await cli(['secret', 'delete', 'life/D'])).code).toBe(1);

    expect((await cli(['secret', 'rollback', 'life/D', '--to', '1'])).code).toBe(0);
    expect(await listed('life/D')).toMatchObject({ version: 2, owner: null });

    expect(await json(['secret', 'delete', 'life/D', '--purge'])).toEqual({ name: 'life/D', deleted: true });
    const purged = await cli(['secret', 'versions', 'life/D']);
    expect(purged.stdout).toContain('every version was purged');
    expect((await cli(['secret', 'rollback', 'life/D', '--to', '1'])).stderr).toContain('not kept');
    const again = await cli(['secret', 'delete', 'life/D', '--purge']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no version of "life/D" is kept (not_found)');
    const set = await cli(['secret', 'set', 'life/D', '--from-env', 'VALUE'], { VALUE: values[2]! });
    expect(set.stdout).toContain('life/D version 3');

    const purgedPlain = await cli(['secret', 'delete', 'life/D', '--purge']);
    expect(purgedPlain.stdout).toBe('deleted life/D and purged every version\n');
  });

  it('the admin API refuses a malformed purge parameter and rollback body, changing nothing', async () => {
    await cli(['secret', 'set', 'life/P', '--from-env', 'VALUE'], { VALUE: values[0]! });
    const purge = await harness.admin('DELETE', '/secrets/life/P?purge=yes');
    expect(purge.status).toBe(400);
    expect(purge.json.detail).toBe('"purge" must be one of true, false, not "yes"');
    expect((await harness.admin('DELETE', '/secrets/life/P?purges=true')).status).toBe(400);
    expect((await harness.admin('POST', '/rollback/life/P', { to: '1' })).status).toBe(400);
    expect((await harness.admin('PATCH', '/secrets/life/P', { conditions: { colour: 'red' } })).status).toBe(
      400,
    );
    expect(await listed('life/P')).toMatchObject({ version: 1, versions: 1 });
  });

  it('nothing the CLI printed, the broker answered or logged, the audit or the database file holds a value', async () => {
    const audit = (await harness.admin('GET', '/audit?limit=1000')).text;
    const database = await readFile(join(harness.dataDir, DATABASE_FILE));
    const outputs: Record<string, string | Buffer> = {
      cli: runs.map((run) => `${run.stdout}\n${run.stderr}`).join('\n'),
      responses: harness.responses.join('\n'),
      logs: harness.logs.join('\n'),
      audit,
      database,
    };
    expect(runs.length).toBeGreaterThan(40);
    expect(findLeaks(values, outputs)).toEqual([]);
  });
});
