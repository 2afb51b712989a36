import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, retryAfterMs } from '../../src/client/backoff.js';
import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
} from '../../src/client/errors.js';
import { ExportPlanError } from '../../src/client/export-plan.js';
import { failureMessage } from '../../src/client/failure-message.js';
import { formatDotenv, formatGithubEnv, formatJson, formatShell } from '../../src/client/formats.js';
import { fetchInProcess } from '../helpers/fetch-in-process.js';
import { hasUnprintable } from '../../src/protocol/printable.js';
import { parseFileCommands } from '../helpers/runner.js';
import { run } from '../helpers/child-process.js';

describe('backoff', () => {
  it('is full jitter under an exponential cap', () => {
    expect(backoffDelayMs(0, () => 0.999)).toBe(499);
    expect(backoffDelayMs(3, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(10, () => 0.999)).toBe(9990);
    expect(backoffDelayMs(2, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('file formats', () => {
  const hostile = [
    { name: 'QUOTES', value: `it's "quoted" and 'single'` },
    { name: 'DOLLARS', value: '$HOME ${PATH} $(id) `id`' },
    { name: 'LINES', value: 'one\ntwo\n\nthree\n' },
    { name: 'EQUALS', value: 'a=b==c; echo hacked' },
    { name: 'BACKSLASH', value: 'C:\\path\\n\\t\\' },
    { name: 'UNICODE', value: 'päss🔑\u0007' },
  ];

  it('dotenv round-trips hostile values it carries through bash source', async () => {
    // QUOTES and BACKSLASH are refused by dotenv (test/unit/client-formats.test.ts).
    const carried = hostile.filter(({ name }) => name !== 'QUOTES' && name !== 'BACKSLASH');
    const file = join(await mkdtemp(join(tmpdir(), 'dotenv-')), 'secrets.env');
    await writeFile(file, formatDotenv(carried));
    const script = `set -a; . "${file}"; printf '%s\\0' ${carried.map(({ name }) => `"$${name}"`).join(' ')}`;
    const result = await run('bash', ['-c', script]);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\0').slice(0, carried.length)).toEqual(carried.map(({ value }) => value));
  });

  it('shell round-trips hostile values through eval', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'shell-')), 'exports.sh');
    await writeFile(file, formatShell(hostile));
    const script = `eval "$(cat "${file}")"; printf '%s\\0' ${hostile.map(({ name }) => `"$${name}"`).join(' ')}`;
    const result = await run('bash', ['-c', script]);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\0').slice(0, hostile.length)).toEqual(hostile.map(({ value }) => value));
    const sh = await run('sh', ['-c', script]);
    expect(sh.stdout.split('\0').slice(0, hostile.length)).toEqual(hostile.map(({ value }) => value));
  });

  it('github-env round-trips as the runner reads GITHUB_ENV, even when a value holds the delimiter', () => {
    const delimiters = ['ghadelimiter_1', 'ghadelimiter_2'];
    const tricky = [{ name: 'DELIMITER', value: 'x\nghadelimiter_1\ny' }, ...hostile];
    const text = formatGithubEnv(tricky, () => delimiters.shift() ?? 'ghadelimiter_3');
    expect(parseFileCommands(text)).toEqual(
      Object.fromEntries(tricky.map(({ name, value }) => [name, value])),
    );
  });

  it('json round-trips through JSON.parse', () => {
    expect(JSON.parse(formatJson(hostile))).toEqual(
      Object.fromEntries(hostile.map(({ name, value }) => [name, value])),
    );
  });
});

describe('failure messages', () => {
  const hostile = 'x\n::warning::forged\r\u001b[2J\u001b]0;title\u0007\u202e\u0085';
  const escaped = 'x\\n::warning::forged\\r\\x1b[2J\\x1b]0;title\\x07\\u202e\\x85';

  it("escapes every part of the broker's problem document, keeping only its own line breaks", () => {
    const message = failureMessage(
      new BrokerProblemError(403, {
        title: 't',
        status: 403,
        code: `policy_denied${hostile}`,
        detail: hostile,
        hint: hostile,
        request_id: hostile,
      }),
    );
    expect(message.split('\n')).toEqual([
      `The broker answered HTTP 403 (policy_denied${escaped}): ${escaped}`,
      `Hint: ${escaped}`,
      `Request id: ${escaped} (the broker's audit log has the details).`,
    ]);
  });

  it('does not take a lead from the prototype for a code like "constructor"', () => {
    const message = failureMessage(
      new BrokerProblemError(400, { title: 't', status: 400, code: 'constructor', detail: 'd' }),
    );
    expect(message).toBe('The broker answered HTTP 400 (constructor): d');
  });

  it('escapes the text of every other failure', () => {
    expect(failureMessage(new BrokerUnreachableError(hostile))).toBe(escaped);
    expect(failureMessage(new ResponseIntegrityError(hostile))).toContain(`nothing was used: ${escaped}`);
    expect(failureMessage(new Error(hostile))).toBe(`secrets-action failed: ${escaped}`);
    expect(failureMessage(new ExportPlanError(`one ${hostile}\ntwo`))).toBe(
      `Nothing was exported:\none ${escaped.replace('x\\n', 'x\n')}\ntwo`,
    );
  });
});

describe('secrets-fetch usage errors', () => {
  const fetchWith = (argv: string[]) => fetchInProcess(argv);

  const hostileOption = '--\u001b]0;PWNED\u0007';
  const hostileArgument = 'a\u001b[2J\u202eb\nsecrets-fetch: forged';

  it('print an unknown option and an unexpected argument escaped, on stderr only', async () => {
    const runs = [
      { argv: [hostileOption], shows: "Unknown option '--\\x1b]0;PWNED\\x07'" },
      {
        argv: ['--broker', 'https://broker.example', hostileArgument],
        shows: 'unexpected argument "a\\x1b[2J\\u202eb\\nsecrets-fetch: forged"',
      },
      {
        argv: ['--broker', 'https://broker.example', '--format', hostileArgument],
        shows: '--format must be one of',
      },
    ];
    for (const { argv, shows } of runs) {
      const result = await fetchWith(argv);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(shows);
      for (const line of result.stderr.split('\n'))
        expect(hasUnprintable(line), JSON.stringify(line)).toBe(false);
      expect(result.stderr.split('\n').filter((line) => line.startsWith('secrets-fetch: forged'))).toEqual(
        [],
      );
    }
  });

  it('print a bad --out path and a bad --secret escaped', async () => {
    const result = await fetchWith([
      '--broker',
      'https://broker.example',
      '--secret',
      'X\u001b[31m=prod/a/b',
      '--token-env',
      'T',
    ]);
    expect(result.code).toBe(2);
    for (const line of result.stderr.split('\n'))
      expect(hasUnprintable(line), JSON.stringify(line)).toBe(false);
  });
});
