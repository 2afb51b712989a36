/**
 * Enumerated options and query parameters take only their values: a typo is a usage error (exit 2, the allowed
 * values named), never an empty answer (issue 12, item 12).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('usage/A', 'usage-value');
  expect((await harness.admin('GET', '/whoami')).status).toBe(200);
});

afterAll(async () => {
  await harness?.close();
});

const cli = (args: string[]) => runCli(args, { environment: adminEnvironment(harness) });
const newestSeq = async () => (await harness.broker.stores.audit.head())?.seq;

describe('the admin CLI', () => {
  it("refuses a value that is not among an option's choices with exit 2, naming them, and sends nothing", async () => {
    const before = await newestSeq();
    const cases: [string[], string][] = [
      [
        ['audit', '--outcome', 'deny'],
        "error: option '--outcome <outcome>' argument 'deny' is invalid. Allowed choices are allowed, denied, error.\n",
      ],
      [
        ['audit', '--kind', 'exchanges', '--json'],
        "error: option '--kind <kind>' argument 'exchanges' is invalid. Allowed choices are exchange, list, output, admin.\n",
      ],
      [
        ['token', 'create', 'ci', '--role', 'superuser'],
        "error: option '--role <role>' argument 'superuser' is invalid. Allowed choices are owner, admin, auditor.\n",
      ],
    ];
    for (const [args, stderr] of cases) {
      const run = await cli(args);
      expect(run, args.join(' ')).toMatchObject({ code: 2, stdout: '', stderr });
    }
    // An admin call, even a refused one, is an audit record: none was made.
    expect(await newestSeq()).toBe(before);
  });

  it('refuses other usage mistakes with exit 2', async () => {
    const before = await newestSeq();
    const cases: [string[], string][] = [
      [['audit', '--outcom', 'denied'], "error: unknown option '--outcom'"],
      [['audit', '--since', 'yesterday'], 'is neither a time'],
      [
        ['audit', '--after', '-1'],
        "argument '-1' is invalid. It must be a whole number from 0 to 999999999.",
      ],
      [['audit', 'verify', '--head', 'seven'], '--head takes SEQ:HASH'],
      [
        ['rotate-key', '--batch-size', '0'],
        "argument '0' is invalid. It must be a whole number from 1 to 1000.",
      ],
      [['token', 'create', 'ci'], "error: required option '--role <role>' not specified"],
      [['secret', 'frob'], "error: unknown command 'frob'"],
      [['secret', 'delete'], "error: missing required argument 'name'"],
      [['token', 'list', 'extra'], 'error: too many arguments'],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stdout).toBe('');
    }
    expect(await newestSeq()).toBe(before);
  });

  it('lists the choices in --help, which exits 0', async () => {
    const help = await cli(['audit', '--help']);
    expect(help.code).toBe(0);
    // Help wraps at 80 columns.
    const text = help.stdout.replace(/\s+/g, ' ');
    expect(text).toContain('(choices: "allowed", "denied", "error")');
    expect(text).toContain('(choices: "exchange", "list", "output", "admin")');
    expect((await cli(['token', 'create', '--help'])).stdout.replace(/\s+/g, ' ')).toContain(
      '(choices: "owner", "admin", "auditor")',
    );
  });

  it('takes each choice', async () => {
    for (const outcome of ['allowed', 'denied', 'error']) {
      expect((await cli(['audit', '--outcome', outcome, '--kind', 'admin'])).code, outcome).toBe(0);
    }
    const created = await cli(['token', 'create', 'usage auditor', '--role', 'auditor']);
    expect(created.code).toBe(0);
  });
});

describe('the admin API', () => {
  it('refuses an audit filter value that is not one of its choices', async () => {
    const outcome = await harness.admin('GET', '/audit?outcome=deny');
    expect(outcome.status).toBe(400);
    expect(outcome.json).toMatchObject({
      code: 'invalid_request',
      detail: '"outcome" must be one of allowed, denied, error, not "deny"',
    });
    const kind = await harness.admin('GET', '/audit?kind=Exchange');
    expect(kind.status).toBe(400);
    expect(kind.json.detail).toBe('"kind" must be one of exchange, list, output, admin, not "Exchange"');
  });

  it('refuses a query parameter the endpoint does not take, naming those it takes', async () => {
    const audit = await harness.admin('GET', '/audit?outcom=denied');
    expect(audit.status).toBe(400);
    expect(audit.json).toMatchObject({
      code: 'invalid_request',
      detail: 'unknown query parameter "outcom"',
      hint: 'this endpoint takes since, until, kind, outcome, repository, secret, rule, request_id, after, limit',
    });
    const secrets = await harness.admin('GET', '/secrets?prefx=usage/');
    expect(secrets.status).toBe(400);
    expect(secrets.json.hint).toBe('this endpoint takes prefix');
    const verify = await harness.admin('GET', '/audit/verify?heads=1:x');
    expect(verify.status).toBe(400);
    expect((await harness.admin('GET', '/secrets?prefix=usage/')).json.secrets).toMatchObject([
      { name: 'usage/A' },
    ]);
  });
});
