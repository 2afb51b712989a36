/**
 * secrets-fetch, the bundled dist/secrets-fetch.js run as a child process, as a new user meets it: its own
 * vocabulary and exit statuses, --help and --version, exec's command checked before a token is spent, the
 * cause of a failure kept to the end, the broker URL spelled one way, the dotenv format read back by the real
 * readers, and derived forms redacted from exec's output.
 */
import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT, run } from '../helpers/child-process.js';
import { freePort } from '../helpers/free-port.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';
import { hasUnprintable } from '../../src/protocol/printable.js';

const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');
let harness: BrokerHarness;
let tokens: TokenEndpoint;
const db = canary('client-fetch-db');
/** Values the dotenv format carries, stored as secrets and read back through the real readers. */
const carried: Record<string, string> = {
  SINGLE_TOKEN: `it's ${canary('client-single')}`,
  QUOTES_TOKEN: `"double" and \`back\` ${canary('client-quotes')}`,
  HASHES_TOKEN: `# not a comment = ${canary('client-hash')} $HOME \\n \\ end`,
  LINES_TOKEN: `  one\ntwo  \n\n${canary('client-lines')}\n`,
  UNICODE_TOKEN: `päss🔑 \u2028 ${canary('client-unicode')}`,
  SPACE_TOKEN: ' ',
};
const refusedValue = `it's "both" ${canary('client-refused')}`;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  await harness.setSecret('prod/web/DB_PASSWORD', db);
  for (const [name, value] of Object.entries(carried))
    await harness.setSecret(`prod/web/dotenv/${name}`, value);
  await harness.setSecret('prod/web/refused/BOTH_QUOTES_TOKEN', refusedValue);
  await harness.setSecret('prod/api/DB_PASSWORD', db);
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

const gitlabToken = () => harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE));
const cleanEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...extra,
});
/** Runs dist/secrets-fetch.js with the Node binary `node`, with only `env` set. */
const fetch = (node: string, args: readonly string[], env: Record<string, string> = {}, cwd?: string) =>
  run(node, [FETCH, ...args], { env: cleanEnv(env), ...(cwd === undefined ? {} : { cwd }) });
const common = () => ['--broker', harness.url, '--audience', TEST_AUDIENCE];

describeEachNode('secrets-fetch speaks of its own options', (node) => {
  it('names a bad --secret by its position and text, and exits 2 as for every usage error', async () => {
    const result = await fetch(node, [
      ...common(),
      '--secret',
      'prod/web/DB_PASSWORD',
      '--secret',
      '9X=prod/a',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--secret #2 '9X=prod/a': "9X" is not a valid environment variable name`);
    expect(result.stderr).not.toContain('secrets line');
    expect(result.stderr).not.toContain('the secrets input');
    const none = await fetch(node, common());
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no --secret given');
    const file = await fetch(node, [...common(), '--secret', 'K=@prod/web/DB_PASSWORD']);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain(
      `--secret #1 'K=@prod/web/DB_PASSWORD': ENV=@NAME is for the GitHub Action`,
    );
    for (const args of [
      ['--nope'],
      [...common(), '--secret', 'x', '--retries', 'many'],
      [...common(), '--secret', 'x', '--timeout-seconds', '0'],
      [...common(), '--secret', 'x', '--format', 'yaml'],
      ['exec', ...common(), '--secret', 'x', '--out', 'f', '--', 'true'],
    ]) {
      const usage = await fetch(node, args);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr, args.join(' ')).toContain('secrets-fetch --help lists every option');
    }
  });

  it('names a refused derived variable by its --secret, and says to add a --secret of its own', async () => {
    await harness.setSecret('prod/web/shared/LD_AUDIT', canary('client-ld'));
    const result = await fetch(node, [...common(), '--secret', 'prod/web/shared/*'], {
      SECRETS_ACTION_ID_TOKEN_1: await gitlabToken(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('secret "prod/web/shared/LD_AUDIT" (--secret #1): "LD_AUDIT" is refused');
    expect(result.stderr).toContain('give it another name in a --secret of its own');
    expect(result.stderr).not.toContain('line');
  });

  it('--help lists every option with its default, and --version prints the version', async () => {
    const help = await fetch(node, ['--help']);
    expect(help.code).toBe(0);
    for (const option of [
      '--broker URL',
      '--secret ENTRY',
      '--audience A',
      '--token-env VAR',
      '--token-file FILE',
      '--format F',
      '--out FILE',
      '--retries N',
      '--timeout-seconds S',
      '--version',
      '--help',
    ])
      expect(help.stdout).toContain(`  ${option}`);
    for (const fallback of [
      '(default: the --broker URL',
      '(default: dotenv)',
      '(default: 3)',
      '(default: 30)',
      '(default: stdout',
      "(default: the GitHub runner's token endpoint",
    ])
      expect(help.stdout).toContain(fallback);
    const packageVersion = (
      JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const version = await fetch(node, ['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(`secrets-fetch ${packageVersion}\n`);
  });
});

describeEachNode('secrets-fetch exec checks its command before a token is spent', (node) => {
  it('exits 127 for a command that is not found and 126 for one that cannot run, and the token still works', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'client-exec-'));
    await writeFile(join(directory, 'not-executable'), '#!/bin/sh\necho ran\n', { mode: 0o644 });
    // Scripts whose #! interpreter cannot run them: spawn would fail only after the token was spent.
    const scripts: Record<string, string> = {
      'bad-interpreter': '#!/nonexistent/interp -x\necho ran\n',
      'crlf-interpreter': '#!/bin/sh\r\necho ran\r\n',
      'env-missing': '#!/usr/bin/env no-such-interpreter-anywhere\necho ran\n',
      'interpreter-not-executable': `#!${join(directory, 'not-executable')}\necho ran\n`,
    };
    for (const [name, text] of Object.entries(scripts))
      await writeFile(join(directory, name), text, { mode: 0o755 });
    const token = await gitlabToken();
    const cases: [string[], number, string][] = [
      [['./missing'], 127, 'cannot run ./missing: no such file; nothing was fetched'],
      [['no-such-command-anywhere'], 127, 'not found in any directory of PATH'],
      [['./not-executable'], 126, 'cannot run ./not-executable: not an executable file'],
      [[directory], 126, 'not an executable file'],
      [
        ['./bad-interpreter'],
        127,
        'cannot run ./bad-interpreter: its interpreter /nonexistent/interp: no such file; nothing was fetched',
      ],
      [['./crlf-interpreter'], 127, 'its interpreter /bin/sh\\r: no such file; nothing was fetched'],
      [
        ['./env-missing'],
        127,
        'its interpreter no-such-interpreter-anywhere (through env): not found in any directory of PATH',
      ],
      [
        ['./interpreter-not-executable'],
        126,
        `its interpreter ${directory}/not-executable: not an executable`,
      ],
    ];
    for (const [command, code, message] of cases) {
      const result = await fetch(
        node,
        ['exec', ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T', '--', ...command],
        { T: token },
        directory,
      );
      expect(result.code, command.join(' ')).toBe(code);
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain('released');
    }
    // Not spent: the same single-use token is accepted now.
    await chmod(join(directory, 'not-executable'), 0o755);
    const ran = await fetch(
      node,
      ['exec', ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T', '--', './not-executable'],
      { T: token },
      directory,
    );
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('ran\n');
  });

  it('finds a bare command name on PATH as a shell does', async () => {
    const result = await fetch(
      node,
      [
        'exec',
        ...common(),
        '--secret',
        'prod/web/DB_PASSWORD',
        '--',
        'sh',
        '-c',
        'printf "%s" "$DB_PASSWORD"',
      ],
      { SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('***');
  });
});

describeEachNode('secrets-fetch keeps the cause of a failure to the end', (node) => {
  it('with the broker down and three tokens, names the broker, its URL and the network error', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await fetch(node, ['--broker', url, '--secret', 'prod/web/DB_PASSWORD'], {
      SECRETS_ACTION_ID_TOKEN_1: 'token-1',
      SECRETS_ACTION_ID_TOKEN_2: 'token-2',
      SECRETS_ACTION_ID_TOKEN_3: 'token-3',
    });
    expect(result.code).toBe(1);
    const last = result.stderr.trim().split('\n').at(-1) as string;
    expect(last).toContain(`secrets-fetch: cannot get an answer from the broker at ${url} (ECONNREFUSED)`);
    expect(last).toContain('gave up after 3 attempt(s)');
    // Why no fourth attempt was made, not advice to declare more tokens for a broker that is down.
    expect(last).toContain('no token left for another attempt');
    expect(result.stderr).not.toContain('declare more id_tokens');
  });
});

describeEachNode('secrets-fetch spells the broker URL one way', (node) => {
  it('requests the default audience without the trailing slash of --broker', async () => {
    const before = tokens.audiences.length;
    const result = await fetch(node, ['--broker', `${harness.url}/`, '--secret', 'prod/api/DB_PASSWORD'], {
      ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
    });
    // Bound to the run's key by default (key binding): the audience before the key digest is the URL.
    expect(tokens.audiences.slice(before).map((aud) => aud.replace(/\/key-binding\/[\w-]{43}$/, ''))).toEqual(
      [harness.url],
    );
    // The broker's audience is another one: the message says which, and which option sets it.
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `This job's token is for audience "${harness.url}"; the broker expects "${TEST_AUDIENCE}": pass --audience ${TEST_AUDIENCE} (it defaults to the --broker URL).`,
    );
    expect(findLeaks([db], { stdout: result.stdout, stderr: result.stderr })).toEqual([]);
  });

  it('says a token minted before it ran cannot be changed by --audience', async () => {
    const token = await harness.gitlab.token(gitlabClaims(harness.gitlab.url, 'https://elsewhere.example'));
    const result = await fetch(node, ['--broker', harness.url, '--secret', 'prod/web/DB_PASSWORD'], {
      SECRETS_ACTION_ID_TOKEN_1: token,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `This job's token is for audience "https://elsewhere.example"; the broker expects "${TEST_AUDIENCE}": the token from SECRETS_ACTION_ID_TOKEN_1 was minted before secrets-fetch ran, so --audience cannot change it`,
    );
  });
});

describeEachNode('secrets-fetch --format dotenv', (node) => {
  const names = Object.keys(carried);

  it('writes a file the dotenv package and node --env-file read back exactly', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'client-dotenv-')), 'secrets.env');
    const result = await fetch(node, [...common(), '--secret', 'prod/web/dotenv/*', '--out', out], {
      SECRETS_ACTION_ID_TOKEN_1: await gitlabToken(),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(dotenv.parse(await readFile(out, 'utf8'))).toEqual(carried);
    const script = `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((name) => [name, process.env[name]]))))`;
    const readBack = await run(process.execPath, [`--env-file=${out}`, '-e', script], { env: cleanEnv() });
    expect(readBack.stderr).toBe('');
    expect(JSON.parse(readBack.stdout)).toEqual(carried);
  });

  it('refuses a value it cannot carry, naming the secret, writing nothing and printing no value', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'client-dotenv-'));
    const out = join(directory, 'secrets.env');
    const token = { SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() };
    const result = await fetch(node, [...common(), '--secret', 'prod/web/refused/*', '--out', out], token);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'Nothing was written: the dotenv format cannot carry the value of secret "prod/web/refused/BOTH_QUOTES_TOKEN" (BOTH_QUOTES_TOKEN)',
    );
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(findLeaks([refusedValue], { stdout: result.stdout, stderr: result.stderr })).toEqual([]);
    const stdout = await fetch(node, [...common(), '--secret', 'prod/web/refused/*'], {
      SECRETS_ACTION_ID_TOKEN_1: await gitlabToken(),
    });
    expect(stdout.code).toBe(1);
    expect(stdout.stdout).toBe('');
    for (const line of stdout.stderr.split('\n')) expect(hasUnprintable(line)).toBe(false);
  });
});

describeEachNode('secrets-fetch exec redacts the derived forms of every value', (node) => {
  it('hex, base64 with and without padding, base64url and URL-encoding become ***', async () => {
    const encodings = [
      `Buffer.from(v).toString('hex')`,
      `Buffer.from(v).toString('base64')`,
      `Buffer.from(v).toString('base64').replace(/=+$/, '')`,
      `Buffer.from(v).toString('base64url')`,
      `encodeURIComponent(v)`,
    ];
    const script = `const v = process.env.SINGLE_TOKEN; for (const form of [${encodings.join(', ')}]) console.log('form:' + form);`;
    const result = await fetch(
      node,
      ['exec', ...common(), '--secret', 'prod/web/dotenv/SINGLE_TOKEN', '--', process.execPath, '-e', script],
      { SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('form:***\n'.repeat(encodings.length));
  });
});
