/**
 * Machine-readable output: `--json` on every admin command that prints a result, and snake_case keys in every JSON
 * the admin API, /readyz and the admin CLI print (issue 12, item 16).
 */
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { buildProgram } from '../../src/cli/main.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('json/A', 'json-value-a');
});

afterAll(async () => {
  await harness?.close();
});

const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

/** Every object key anywhere in `value`, with the path where it was found. */
function keysOf(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => keysOf(item, `${path}[${index}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => [
    `${path}.${key}`,
    ...keysOf(inner, `${path}.${key}`),
  ]);
}

function expectSnakeCase(what: string, value: unknown): void {
  const keys = keysOf(value);
  const offending = keys.filter((path) => !SNAKE_CASE.test(path.slice(path.lastIndexOf('.') + 1)));
  expect(offending, what).toEqual([]);
}

const cli = (args: string[]) => runCli(args, { environment: adminEnvironment(harness) });

/** Runs a command with --json and returns what it printed, parsed; it must print only JSON on stdout. */
async function json(args: string[]): Promise<unknown> {
  const run = await cli([...args, '--json']);
  expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return JSON.parse(run.stdout);
}

describe('--json', () => {
  it('is an option of every admin command that prints a result', () => {
    const io = {
      stdin: Readable.from([]),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      environment: {},
    };
    const program = buildProgram(io);
    const find = (path: string): Command => {
      let command: Command | undefined = program;
      for (const name of path.split(' ')) command = command?.commands.find((sub) => sub.name() === name);
      if (command === undefined) throw new Error(`no command ${path}`);
      return command;
    };
    for (const path of [
      'secret set',
      'secret list',
      'secret delete',
      'token create',
      'token list',
      'token revoke',
      'audit',
      'audit verify',
      'rotate-key',
    ]) {
      expect(
        find(path).options.map((option) => option.long),
        path,
      ).toContain('--json');
    }
  });

  it('prints each result as JSON with snake_case keys', async () => {
    const dryRun = await json(['secret', 'set', 'json/B', '--value', 'json-value-b', '--dry-run']);
    expect(dryRun).toEqual({
      name: 'json/B',
      version: 1,
      bytes: 12,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      dry_run: true,
    });
    const set = await json(['secret', 'set', 'json/B', '--value', 'json-value-b']);
    expect(set).toMatchObject({ name: 'json/B', version: 1, dry_run: false });
    const list = await json(['secret', 'list', 'json/']);
    const noConditions = {
      expires_at: null,
      max_reads: null,
      rotate_after_reads: null,
      description: null,
      owner: null,
      releases: 0,
      reads_in_window: 0,
      expired: false,
      budget_exhausted: false,
      rotation_required: false,
    };
    expect(list).toEqual([
      { name: 'json/A', version: 1, versions: 1, updated_at: expect.any(String), ...noConditions },
      { name: 'json/B', version: 1, versions: 1, updated_at: expect.any(String), ...noConditions },
    ]);
    expect(await json(['secret', 'delete', 'json/B'])).toEqual({ name: 'json/B', deleted: true });

    const created = (await json(['token', 'create', 'json auditor', '--role', 'auditor'])) as { id: string };
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      token: expect.stringMatching(/^sbadm_/),
      label: 'json auditor',
      role: 'auditor',
      created_at: expect.any(String),
    });
    const tokens = await json(['token', 'list']);
    expect(tokens).toContainEqual(expect.objectContaining({ id: created.id, revoked_at: null }));
    expect(await json(['token', 'revoke', created.id])).toEqual({ id: created.id, revoked: true });

    const rotation = await json(['rotate-key']);
    // json/B was deleted, its version kept: both are re-wrapped.
    expect(rotation).toMatchObject({ new_key_version: true, rewrapped: 2, total: 2, remaining: 0 });
    const verification = await json(['audit', 'verify']);
    expect(verification).toMatchObject({
      ok: true,
      hash_only: 0,
      under_unconfigured_key: [],
      heads_matched: [],
    });

    const audit = await cli(['audit', '--json', '--limit', '1000']);
    const records = audit.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(records.length).toBeGreaterThan(10);
    for (const [what, value] of Object.entries({
      dryRun,
      set,
      list,
      created,
      tokens,
      rotation,
      verification,
      records,
    }))
      expectSnakeCase(what, value);
  });

  it('audit verify prints the JSON of a broken chain too, and exits 1 with the error', async () => {
    const h = await BrokerHarness.start();
    try {
      await h.setSecret('json/EDITED', 'json-value-edited');
      const database = new Database(join(h.dataDir, DATABASE_FILE));
      try {
        database
          .prepare("UPDATE audit_log SET record = replace(record, 'EDITED', 'OTHER') WHERE seq = 1")
          .run();
      } finally {
        database.close();
      }
      const run = await runCli(['audit', 'verify', '--json'], { environment: adminEnvironment(h) });
      expect(run.code).toBe(1);
      const result = JSON.parse(run.stdout) as unknown;
      expect(result).toMatchObject({ ok: false, problem: { seq: 1 } });
      expectSnakeCase('broken verification', result);
      expect(run.stderr).toMatch(/^error: the audit chain is broken at record 1: /);
    } finally {
      await h.close();
    }
  });
});

describe('the admin API and /readyz', () => {
  it('answer with snake_case keys only', async () => {
    const answers: Record<string, unknown> = {};
    const call = async (name: string, method: string, path: string, body?: unknown) => {
      const result = await harness.admin(method, path, body);
      answers[name] = result.json;
      return result;
    };
    await call('whoami', 'GET', '/whoami');
    expect(answers.whoami).toEqual({
      token_id: 'environment',
      label: expect.any(String),
      role: 'owner',
    });
    await call('secrets.list', 'GET', '/secrets');
    await call('secrets.set', 'PUT', '/secrets/json/C', { value: 'json-value-c' });
    await call('secrets.delete', 'DELETE', '/secrets/json/C');
    const token = await call('tokens.create', 'POST', '/tokens', { label: 'api', role: 'auditor' });
    await call('tokens.list', 'GET', '/tokens');
    await call('tokens.revoke', 'DELETE', `/tokens/${token.json.id as string}`);
    await call('audit', 'GET', '/audit?limit=1000');
    await call('audit.verify', 'GET', '/audit/verify');
    await call('policy.explain', 'POST', '/policy/explain', {
      claims: { iss: harness.github.url, repository_id: '98765', ref: 'refs/heads/main' },
      secrets: ['staging/api/DB_PASSWORD'],
    });
    const rotation = await call('keys.rotate', 'POST', '/keys/rotate');
    await call('keys.rotate.batch', 'POST', '/keys/rotate/batch', {
      target_key_id: rotation.json.target_key_id,
      size: 10,
    });
    await call('problem', 'GET', '/audit?limit=0');
    answers.unauthorized = (await harness.admin('GET', '/whoami', undefined, 'wrong')).json;
    answers.readyz = (await harness.request('GET', '/readyz')).json;
    answers.info = (await harness.request('GET', '/v1/info')).json;
    expect(answers.readyz).toMatchObject({
      status: 'ready',
      issuers: [
        {
          issuer: harness.github.url,
          loaded: true,
          key_count: 1,
          fetched_at: expect.any(String),
          last_error: null,
        },
        { issuer: harness.gitlab.url, loaded: expect.any(Boolean), key_count: expect.any(Number) },
      ],
    });
    for (const [name, value] of Object.entries(answers)) {
      expect(Object.keys(value as object).length, name).toBeGreaterThan(0);
      expectSnakeCase(name, value);
    }
  });
});
