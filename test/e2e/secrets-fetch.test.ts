/** secrets-fetch, the bundled dist/secrets-fetch.js, against the real broker with GitLab- and GitHub-shaped tokens. */
import { lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PLANTED_PATHS } from '../helpers/planted-paths.js';
import { withFakeServer } from '../helpers/fake-server.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { hasUnprintable } from '../../src/protocol/printable.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { Child, REPO_ROOT, run } from '../helpers/child-process.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

let harness: BrokerHarness;
let tokens: TokenEndpoint;
const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');
const values = {
  db: canary('fetch-db'),
  cert: `-----BEGIN KEY-----\n${canary('fetch-cert')}\n-----END KEY-----`,
  hostile: `it's "$HOME" \`id\` $(id) ${canary('fetch-hostile')}`,
};
/** Secrets whose derived names run code in later steps, all reachable through one pattern. */
const codeRunningNames = ['LD_AUDIT', 'GIT_CONFIG_PARAMETERS', 'PERL5OPT', 'node_options'];
const codeRunningValues = codeRunningNames.map((name) => canary(`fetch-code-${name}`));

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/tls/CERT', values.cert);
  await harness.setSecret('prod/web/HOSTILE', values.hostile);
  await harness.setSecret('prod/api/DB_PASSWORD', values.db);
  for (const [index, name] of codeRunningNames.entries())
    await harness.setSecret(`prod/web/shared/${name}`, codeRunningValues[index]!);
  await harness.setSecret('prod/web/shared/REGION', 'eu-west-1');
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

const gitlabToken = () => harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE));
const common = () => ['--broker', harness.url, '--audience', TEST_AUDIENCE];
const cleanEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...extra,
});

describeEachNode('secrets-fetch', (node) => {
  it("fetches with the GitLab component's id_tokens and prints each format, values only on stdout", async () => {
    // HOSTILE holds ' with " and $, which dotenv refuses (test/e2e/client-formats.test.ts).
    for (const format of ['shell', 'json', 'github-env']) {
      const result = await run(
        node,
        [
          FETCH,
          ...common(),
          '--secret',
          'prod/web/DB_PASSWORD',
          '--secret',
          'CERT=prod/web/tls/CERT',
          '--secret',
          'prod/web/HOSTILE',
          '--format',
          format,
        ],
        {
          env: cleanEnv({ SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() }),
        },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(
        'released prod/web/DB_PASSWORD v1 as DB_PASSWORD, prod/web/tls/CERT v1 as CERT, prod/web/HOSTILE v1 as HOSTILE',
      );
      expect(findLeaks(Object.values(values), { stderr: result.stderr })).toEqual([]);
      if (format === 'json')
        expect(JSON.parse(result.stdout)).toEqual({
          DB_PASSWORD: values.db,
          CERT: values.cert,
          HOSTILE: values.hostile,
        });
      if (format === 'shell') {
        const shell = await run('bash', [
          '-c',
          `eval "$1"; printf '%s\\0' "$DB_PASSWORD" "$CERT" "$HOSTILE"`,
          'x',
          result.stdout,
        ]);
        expect(shell.stdout.split('\0').slice(0, 3)).toEqual([values.db, values.cert, values.hostile]);
      }
    }
  });

  it('writes --out with mode 0600', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'fetch-')), 'secrets.env');
    const result = await run(
      node,
      [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'MY_TOKEN', '--out', out],
      {
        env: cleanEnv({ MY_TOKEN: await gitlabToken() }),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(await readFile(out, 'utf8')).toBe(`DB_PASSWORD='${values.db}'\n`);
  });

  it('reads --token-file and gets fresh tokens from the GitHub runner on its own', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'fetch-')), 'token');
    await writeFile(file, `${await gitlabToken()}\n`);
    expect(
      (
        await run(node, [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-file', file], {
          env: cleanEnv(),
        })
      ).code,
    ).toBe(0);
    const github = await run(
      node,
      [FETCH, ...common(), '--secret', 'prod/api/DB_PASSWORD', '--format', 'json'],
      {
        env: cleanEnv({
          ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
        }),
      },
    );
    expect(github.code, github.stderr).toBe(0);
    expect(JSON.parse(github.stdout)).toEqual({ DB_PASSWORD: values.db });
  });

  it("fails clearly: no token, a denial with the broker's hint, bad usage", async () => {
    const none = await run(node, [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD'], {
      env: cleanEnv(),
    });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no OIDC ID token found');
    const denied = await run(
      node,
      [FETCH, ...common(), '--secret', 'prod/api/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: await gitlabToken() }) },
    );
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('(policy_denied)');
    expect(denied.stderr).toContain('only to tokens of issuer "github"');
    const usage = await run(node, [FETCH, '--secret', 'x'], { env: cleanEnv() });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--broker URL is required');
    const insecure = await run(node, [FETCH, '--broker', 'http://secrets.example.com', '--secret', 'x'], {
      env: cleanEnv(),
    });
    expect(insecure.stderr).toContain('must use https://');
  });

  it('a fixed token works once: the same token again is refused as replayed', async () => {
    const token = await gitlabToken();
    const first = await run(
      node,
      [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: token }) },
    );
    expect(first.code).toBe(0);
    const again = await run(
      node,
      [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: token }) },
    );
    expect(again.stderr).toContain('(token_replayed)');
  });

  it('retries with the next --token-env token, and stops when they are all used', async () => {
    // A broker that is always unavailable: each attempt needs, and spends, one token.
    let attempts = 0;
    await withFakeServer(
      (_request, response) => {
        attempts += 1;
        response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' });
        response.end(
          JSON.stringify({
            title: 'Service unavailable',
            status: 503,
            code: 'unavailable',
            detail: 'down for the test',
          }),
        );
      },
      async (url) => {
        const result = await run(
          node,
          [
            FETCH,
            '--broker',
            url,
            '--audience',
            TEST_AUDIENCE,
            '--secret',
            'prod/web/DB_PASSWORD',
            '--token-env',
            'T1',
            '--token-env',
            'T2',
            '--retries',
            '5',
          ],
          { env: cleanEnv({ T1: 'first-token', T2: 'second-token' }) },
        );
        expect(result.code).toBe(1);
        expect(attempts).toBe(2);
        // The broker's answer is the cause; the used-up tokens are why it stopped.
        expect(result.stderr).toContain('The broker is unavailable and released nothing (unavailable)');
        expect(result.stderr).toContain('gave up after 2 attempt(s) in');
        expect(result.stderr).toContain('each OIDC token works once, and the 2 from T1, T2 were used');
      },
    );
  });
});

describeEachNode('secrets-fetch exec', (node) => {
  it('gives the command the secrets, redacts them from stdout and stderr, and passes the exit code', async () => {
    const script =
      'printf "db=%s\\n" "$DB_PASSWORD"; printf "%s\\n" "$CERT" >&2; printf "%s" "$HOSTILE"; exit 3';
    const result = await run(
      node,
      [
        FETCH,
        'exec',
        ...common(),
        '--secret',
        'prod/web/DB_PASSWORD',
        '--secret',
        'CERT=prod/web/tls/CERT',
        '--secret',
        'prod/web/HOSTILE',
        '--',
        'sh',
        '-c',
        script,
      ],
      {
        env: cleanEnv({ SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() }),
      },
    );
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('db=***\n***');
    expect(result.stderr).toContain('***\n');
    expect(findLeaks(Object.values(values), { stdout: result.stdout, stderr: result.stderr })).toEqual([]);
  });

  it('forwards a signal to the command and reports it as 128 + its number', async () => {
    const child = new Child(
      node,
      [
        FETCH,
        'exec',
        ...common(),
        '--secret',
        'prod/web/DB_PASSWORD',
        '--',
        'sh',
        '-c',
        'echo ready; exec sleep 30',
      ],
      {
        env: cleanEnv({ SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() }),
      },
    );
    await child.waitFor(/ready/);
    expect(await child.stop('SIGTERM')).toBe(143);
    expect(child.stderr).toContain('killed by SIGTERM');
  });
});

describeEachNode('secrets-fetch refuses secret names that would run code in later steps', (node) => {
  it('in every format and with exec, in any letter case, printing no value', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'fetch-')), 'never.env');
    const runs: [string, string[]][] = [
      ...['dotenv', 'shell', 'json', 'github-env'].map((format): [string, string[]] => [
        format,
        ['--format', format, '--out', out],
      ]),
      ['exec', ['--', 'sh', '-c', 'echo the command ran']],
    ];
    for (const [label, extra] of runs) {
      const verb = label === 'exec' ? ['exec'] : [];
      const result = await run(
        node,
        [FETCH, ...verb, ...common(), '--secret', 'prod/web/shared/*', ...extra],
        {
          env: cleanEnv({ SECRETS_ACTION_ID_TOKEN_1: await gitlabToken() }),
        },
      );
      expect(result.code, `${label}: ${result.stderr}`).toBe(1);
      expect(result.stdout, label).toBe('');
      for (const name of codeRunningNames)
        expect(result.stderr, label).toContain(
          `secret "prod/web/shared/${name}" (--secret #1): "${name.toUpperCase()}" is refused`,
        );
      expect(findLeaks(codeRunningValues, { stderr: result.stderr })).toEqual([]);
      await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });
});

describeEachNode('secrets-fetch --out is always a new file of its own', (node) => {
  for (const [what, plant] of PLANTED_PATHS) {
    it(`refuses a path that holds ${what}, spends no token and changes nothing`, async () => {
      const root = await mkdtemp(join(tmpdir(), 'fetch-'));
      const out = join(root, 'secrets.env');
      const outside = join(root, 'outside');
      await plant(out, outside);
      const target = (await lstat(out)).isSymbolicLink() ? outside : out;
      const before = await lstat(target).catch(() => undefined);
      const token = await gitlabToken();
      const args = [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'];
      const refused = await run(node, [...args, '--out', out], { env: cleanEnv({ T: token }) });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`${out} already exists`);
      expect(refused.stderr).toContain('remove it or choose another path');
      if (before === undefined) {
        await expect(lstat(outside)).rejects.toMatchObject({ code: 'ENOENT' });
      } else {
        expect(await readFile(target, 'utf8')).toBe('victim\n');
        expect((await stat(target)).mode & 0o777).toBe(0o644);
      }
      // The refusal came before the exchange: the same token still works once.
      const fresh = join(root, 'fresh.env');
      const accepted = await run(node, [...args, '--out', fresh], { env: cleanEnv({ T: token }) });
      expect(accepted.code, accepted.stderr).toBe(0);
      expect(await readFile(fresh, 'utf8')).toBe(`DB_PASSWORD='${values.db}'\n`);
    });
  }
});

describeEachNode('secrets-fetch --out is written only through real directories', (node) => {
  it('refuses a path whose directory below the current one is a symbolic link, and spends no token', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fetch-'));
    const published = join(root, 'published-site');
    await mkdir(published);
    await symlink(published, join(root, 'out'));
    const token = await gitlabToken();
    const args = [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'];
    const refused = await run(node, [...args, '--out', 'out/secrets.env'], {
      env: cleanEnv({ T: token }),
      cwd: root,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `Nothing was written: ${join(root, 'out', 'secrets.env')} is refused: ${join(root, 'out')} is a symbolic link`,
    );
    expect(await readdir(published)).toEqual([]);
    // The refusal came before the exchange: the same token still works once.
    const accepted = await run(node, [...args, '--out', 'secrets.env'], {
      env: cleanEnv({ T: token }),
      cwd: root,
    });
    expect(accepted.code, accepted.stderr).toBe(0);
  });
});

describeEachNode('secrets-fetch bounds the token request by --timeout-seconds', (node) => {
  it("ends when the GitHub runner's token endpoint never answers", async () => {
    await withFakeServer(
      () => undefined,
      async (url) => {
        const result = await run(
          node,
          [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--timeout-seconds', '1'],
          {
            env: cleanEnv({
              ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/token?api-version=2.0`,
              ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token',
            }),
          },
        );
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(/could not get an OIDC ID token: .*(did not answer in time|deadline)/);
      },
    );
  });
});

describeEachNode('secrets-fetch prints its own usage errors escaped', (node) => {
  it('an unknown option and an unexpected argument reach stderr without control characters', async () => {
    for (const argument of ['--\u001b]0;PWNED\u0007', 'x\u001b[2J\u202e\nsecrets-fetch: forged']) {
      const result = await run(node, [FETCH, '--broker', harness.url, argument], { env: cleanEnv() });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      for (const line of result.stderr.split('\n'))
        expect(hasUnprintable(line), JSON.stringify(line)).toBe(false);
      expect(result.stderr).toMatch(
        /Unknown option '--\\x1b\]0;PWNED\\x07'|unexpected argument "x\\x1b\[2J\\u202e\\nsecrets-fetch: forged"/,
      );
    }
  });
});

describeEachNode("secrets-fetch prints the broker's words escaped", (node) => {
  it('no terminal escape or forged line from a problem document reaches stderr', async () => {
    let count = 0;
    await withFakeServer(
      (_request, response) => {
        count += 1;
        response.writeHead(count === 1 ? 503 : 403, {
          'content-type': 'application/problem+json',
          'retry-after': '0',
        });
        response.end(
          JSON.stringify(
            count === 1
              ? { title: 'x', status: 503, code: 'unavailable\nsecrets-fetch: forged-code', detail: 'down' }
              : {
                  title: 'x',
                  status: 403,
                  code: 'policy_denied',
                  detail: 'denied\nsecrets-fetch: forged-detail \u001b[2J\u001b]0;title\u0007',
                  hint: '\u202eforged-hint',
                  request_id: 'id\r\nforged-id',
                },
          ),
        );
      },
      async (url) => {
        const result = await run(
          node,
          [
            FETCH,
            '--broker',
            url,
            '--audience',
            TEST_AUDIENCE,
            '--secret',
            'prod/web/DB_PASSWORD',
            '--retries',
            '1',
          ],
          { env: cleanEnv({ SECRETS_ACTION_ID_TOKEN_1: 'first', SECRETS_ACTION_ID_TOKEN_2: 'second' }) },
        );
        expect(result.code).toBe(1);
        expect(rawControlCharacters(result.stderr)).toEqual([]);
        expect(result.stderr.split('\n').filter((line) => line.startsWith('secrets-fetch: forged'))).toEqual(
          [],
        );
        expect(result.stderr).toContain('unavailable\\nsecrets-fetch: forged-code');
        expect(result.stderr).toContain('denied\\nsecrets-fetch: forged-detail \\x1b[2J\\x1b]0;title\\x07');
        expect(result.stderr).toContain('Request id: id\\r\\nforged-id');
      },
    );
  });
});

/** The characters in `text` that `printable` would escape, line feeds aside (they end a log line). */
function rawControlCharacters(text: string): string[] {
  return [...text.replaceAll('\n', '')].filter(hasUnprintable);
}
