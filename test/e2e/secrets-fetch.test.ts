/** secrets-fetch, the bundled dist/secrets-fetch.js, against the real broker with GitLab- and GitHub-shaped tokens. */
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { Child, REPO_ROOT, run } from '../helpers/child-process.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let harness: BrokerHarness;
let tokens: TokenEndpoint;
const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');
const values = {
  db: canary('fetch-db'),
  cert: `-----BEGIN KEY-----\n${canary('fetch-cert')}\n-----END KEY-----`,
  hostile: `it's "$HOME" \`id\` $(id) ${canary('fetch-hostile')}`,
};

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/tls/CERT', values.cert);
  await harness.setSecret('prod/web/HOSTILE', values.hostile);
  await harness.setSecret('prod/api/DB_PASSWORD', values.db);
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

describe('secrets-fetch', () => {
  it("fetches with the GitLab component's id_tokens and prints each format, values only on stdout", async () => {
    for (const format of ['dotenv', 'shell', 'json', 'github-env']) {
      const result = await run(
        'node',
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
      'node',
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
        await run('node', [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-file', file], {
          env: cleanEnv(),
        })
      ).code,
    ).toBe(0);
    const github = await run(
      'node',
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
    const none = await run('node', [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD'], {
      env: cleanEnv(),
    });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no OIDC ID token found');
    const denied = await run(
      'node',
      [FETCH, ...common(), '--secret', 'prod/api/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: await gitlabToken() }) },
    );
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('(policy_denied)');
    expect(denied.stderr).toContain('only to tokens of issuer "github"');
    const usage = await run('node', [FETCH, '--secret', 'x'], { env: cleanEnv() });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--broker URL is required');
    const insecure = await run('node', [FETCH, '--broker', 'http://secrets.example.com', '--secret', 'x'], {
      env: cleanEnv(),
    });
    expect(insecure.stderr).toContain('must use https://');
  });

  it('a fixed token works once: the same token again is refused as replayed', async () => {
    const token = await gitlabToken();
    const first = await run(
      'node',
      [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: token }) },
    );
    expect(first.code).toBe(0);
    const again = await run(
      'node',
      [FETCH, ...common(), '--secret', 'prod/web/DB_PASSWORD', '--token-env', 'T'],
      { env: cleanEnv({ T: token }) },
    );
    expect(again.stderr).toContain('(token_replayed)');
  });

  it('retries with the next --token-env token, and stops when they are all used', async () => {
    // A broker that is always unavailable: each attempt needs, and spends, one token.
    let attempts = 0;
    const down = createServer((_request, response) => {
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
    });
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
      const result = await run(
        'node',
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
      expect(result.stderr).toContain('all 2 token(s) from T1, T2 were used by earlier attempts');
    } finally {
      await new Promise((resolve) => down.close(resolve));
    }
  });
});

describe('secrets-fetch exec', () => {
  it('gives the command the secrets, redacts them from stdout and stderr, and passes the exit code', async () => {
    const script =
      'printf "db=%s\\n" "$DB_PASSWORD"; printf "%s\\n" "$CERT" >&2; printf "%s" "$HOSTILE"; exit 3';
    const result = await run(
      'node',
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
      'node',
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
