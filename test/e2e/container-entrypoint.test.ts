/**
 * examples/container/entrypoint.sh, run by sh (dash) and bash as a container would run it, with the bundled
 * dist/secrets-fetch.js on PATH, against the real broker and a real OIDC issuer. No image is built here: there
 * is no container engine; the Dockerfile's checksum step is run on its own.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { Child, REPO_ROOT, run } from '../helpers/child-process.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';

const ENTRYPOINT = join(REPO_ROOT, 'examples/container/entrypoint.sh');
const DOCKERFILE = join(REPO_ROOT, 'examples/container/Dockerfile');
const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');
const NOT_STARTED = 'nothing was fetched and the command was not started';

const values = {
  db: canary('entrypoint-db'),
  cert: `-----BEGIN KEY-----\n${canary('entrypoint-cert')}\n-----END KEY-----`,
  denied: canary('entrypoint-denied'),
};
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

let harness: BrokerHarness;
/** Every directory a run was given (its cwd, HOME and TMPDIR), scanned for values left behind. */
let workRoot: string;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/tls/CERT', values.cert);
  await harness.setSecret('prod/api/DB_PASSWORD', values.denied);
  workRoot = await mkdtemp(join(tmpdir(), 'entrypoint-'));
});

afterAll(async () => {
  await harness?.close();
  if (workRoot !== undefined) await rm(workRoot, { recursive: true, force: true });
});

const gitlabToken = () => harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE));

/** A container's file system in small: a cwd with HOME and TMPDIR, and secrets-fetch on PATH as the image has it. */
async function container(): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(workRoot, 'run-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(bin, 'secrets-fetch'), `#!/bin/sh\nexec "${process.execPath}" "${FETCH}" "$@"\n`);
  await chmod(join(bin, 'secrets-fetch'), 0o755);
  return {
    dir,
    env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, TMPDIR: join(dir, 'tmp') },
  };
}

/** Every file under `dir`, by path, for the leak scan. */
async function filesUnder(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile())
      files[join(entry.parentPath, entry.name)] = await readFile(join(entry.parentPath, entry.name));
  return files;
}

const configuration = (token: string, secrets: string) => ({
  SECRETS_FETCH_BROKER: harness.url,
  SECRETS_FETCH_SECRETS: secrets,
  SECRETS_FETCH_TOKEN_ENV: 'ID_TOKEN',
  ID_TOKEN: token,
});

/** A command that leaves a file behind when it starts, so a test can tell it never started. */
const MARKING = ['sh', '-c', ': > started; echo started'];

describe.each(['sh', 'bash'])('the container entrypoint run by %s', (shell) => {
  it('runs the command with the secrets in its environment only, its output redacted, nothing in a file', async () => {
    const { dir, env } = await container();
    // The command prints each value plainly on both streams, their hashes, its arguments and its parent.
    const script = [
      'printf "%s\\n" "$DB_PASSWORD" "$CERT"',
      'printf "%s\\n" "$DB_PASSWORD" "$CERT" >&2',
      'printf "%s" "$DB_PASSWORD" | sha256sum',
      'printf "%s" "$CERT" | sha256sum',
      'printf "arg:%s\\n" "$@"',
      'echo "parent:$PPID"',
    ].join('\n');
    const child = new Child(shell, [ENTRYPOINT, 'sh', '-c', script, 'command', 'two words', '-x', '*'], {
      cwd: dir,
      env: {
        ...env,
        ...configuration(await gitlabToken(), '\n  prod/web/DB_PASSWORD\tCERT=prod/web/tls/CERT  \n'),
      },
    });
    expect(await child.exited, child.stderr).toBe(0);
    expect(child.stdout).toContain(`${sha256(values.db)}  -\n${sha256(values.cert)}  -\n`);
    expect(child.stdout).toContain('arg:two words\narg:-x\narg:*\n');
    // secrets-fetch took the entrypoint's process (exec), so it is the command's parent: no shell stays behind.
    expect(child.stdout).toContain(`parent:${child.pid}\n`);
    expect(child.stdout.startsWith('***\n')).toBe(true);
    expect(child.stderr).toContain(
      'secrets-fetch: released prod/web/DB_PASSWORD v1 as DB_PASSWORD, prod/web/tls/CERT v1 as CERT',
    );
    expect(
      findLeaks(Object.values(values), {
        stdout: child.stdout,
        stderr: child.stderr,
        ...(await filesUnder(workRoot)),
      }),
    ).toEqual([]);
  });

  it('takes the token from a file, and a PREFIX/* entry as the broker pattern, not as a file name pattern', async () => {
    const { dir, env } = await container();
    await writeFile(join(dir, 'token'), `${await gitlabToken()}\n`);
    // A shell that expanded prod/web/* would ask for prod/web/not-a-secret instead.
    await mkdir(join(dir, 'prod/web'), { recursive: true });
    await writeFile(join(dir, 'prod/web/not-a-secret'), '');
    const result = await run(
      shell,
      [ENTRYPOINT, 'sh', '-c', 'printf "%s" "$DB_PASSWORD" | sha256sum; echo "${CERT-no CERT}"'],
      {
        cwd: dir,
        env: {
          ...env,
          SECRETS_FETCH_BROKER: harness.url,
          SECRETS_FETCH_SECRETS: 'prod/web/*',
          SECRETS_FETCH_TOKEN_FILE: join(dir, 'token'),
        },
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${sha256(values.db)}  -\nno CERT\n`);
  });

  it('fails closed: a denied secret ends the container before the command starts', async () => {
    const { dir, env } = await container();
    const result = await run(shell, [ENTRYPOINT, ...MARKING], {
      cwd: dir,
      env: { ...env, ...configuration(await gitlabToken(), 'prod/web/DB_PASSWORD prod/api/DB_PASSWORD') },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('prod/api/DB_PASSWORD');
    expect(result.stdout).toBe('');
    await expect(readFile(join(dir, 'started'))).rejects.toThrow('ENOENT');
    expect(findLeaks(Object.values(values), { stderr: result.stderr })).toEqual([]);
  });

  it('finds out that the command cannot run before the token is spent', async () => {
    const { dir, env } = await container();
    const token = await gitlabToken();
    const missing = await run(shell, [ENTRYPOINT, 'no-such-command-here'], {
      cwd: dir,
      env: { ...env, ...configuration(token, 'prod/web/DB_PASSWORD') },
    });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('cannot run no-such-command-here');
    const started = await run(shell, [ENTRYPOINT, ...MARKING], {
      cwd: dir,
      env: { ...env, ...configuration(token, 'prod/web/DB_PASSWORD') },
    });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toBe('started\n');
  });

  it('forwards SIGTERM to the command and ends with its status', async () => {
    const { dir, env } = await container();
    const script = 'trap "echo stopping; exit 42" TERM; echo ready; while :; do sleep 1 & wait $!; done';
    const child = new Child(shell, [ENTRYPOINT, 'sh', '-c', script], {
      cwd: dir,
      env: { ...env, ...configuration(await gitlabToken(), 'prod/web/DB_PASSWORD') },
    });
    await child.waitFor(/^ready$/m);
    expect(await child.stop('SIGTERM')).toBe(42);
    expect(child.stdout).toBe('ready\nstopping\n');
  });

  it('names what is missing from its configuration, and starts nothing', async () => {
    const { dir, env } = await container();
    const complete = configuration('not-used', 'prod/web/DB_PASSWORD');
    const without = (name: string) =>
      Object.fromEntries(Object.entries(complete).filter(([key]) => key !== name));
    const [noBroker, noSecrets, noToken] = [
      'SECRETS_FETCH_BROKER',
      'SECRETS_FETCH_SECRETS',
      'SECRETS_FETCH_TOKEN_ENV',
    ].map(without) as [Record<string, string>, Record<string, string>, Record<string, string>];
    const cases: [string, Record<string, string>, string[], string][] = [
      ['no command', complete, [], 'no command to run: give the image a CMD'],
      ['no broker', noBroker, MARKING, "SECRETS_FETCH_BROKER is not set: set it to the broker's URL"],
      ['no secrets', noSecrets, MARKING, 'SECRETS_FETCH_SECRETS is not set: list the secrets'],
      [
        'only spaces',
        { ...complete, SECRETS_FETCH_SECRETS: ' \n\t ' },
        MARKING,
        'SECRETS_FETCH_SECRETS lists no secret',
      ],
      ['no token', noToken, MARKING, 'neither SECRETS_FETCH_TOKEN_ENV nor SECRETS_FETCH_TOKEN_FILE is set'],
      [
        'two tokens',
        { ...complete, SECRETS_FETCH_TOKEN_FILE: '/token' },
        MARKING,
        'both SECRETS_FETCH_TOKEN_ENV and SECRETS_FETCH_TOKEN_FILE are set',
      ],
      [
        'no secrets-fetch',
        { ...complete, SECRETS_FETCH_BIN: join(dir, 'bin/missing') },
        MARKING,
        'secrets-fetch is not an executable command (SECRETS_FETCH_BIN',
      ],
    ];
    for (const [name, configured, command, message] of cases) {
      const result = await run(shell, [ENTRYPOINT, ...command], { cwd: dir, env: { ...env, ...configured } });
      expect(result.code, name).toBe(2);
      expect(result.stderr, name).toMatch(/^secrets entrypoint: [^\n]*\n$/);
      expect(result.stderr, name).toContain(message);
      expect(result.stderr.endsWith(`; ${NOT_STARTED}\n`), name).toBe(true);
      expect(result.stdout, name).toBe('');
    }
    await expect(readFile(join(dir, 'started'))).rejects.toThrow('ENOENT');
  });

  it('finds secrets-fetch through SECRETS_FETCH_BIN', async () => {
    const { dir, env } = await container();
    const result = await run(shell, [ENTRYPOINT, ...MARKING], {
      cwd: dir,
      env: {
        ...env,
        PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
        SECRETS_FETCH_BIN: join(dir, 'bin/secrets-fetch'),
        ...configuration(await gitlabToken(), 'prod/web/DB_PASSWORD'),
      },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('started\n');
  });
});

/** The Dockerfile's RUN instruction that checks secrets-fetch, joined as Docker joins its continued lines. */
async function checksumStep(): Promise<string> {
  const text = await readFile(DOCKERFILE, 'utf8');
  const start = text.indexOf('\nRUN expected=');
  expect(start).toBeGreaterThan(0);
  const lines: string[] = [];
  for (const line of text.slice(start + 1).split('\n')) {
    lines.push(line.endsWith('\\') ? line.slice(0, -1) : line);
    if (!line.endsWith('\\')) break;
  }
  return lines.join('').slice('RUN '.length);
}

describe('the example Dockerfile', () => {
  it('bakes in secrets-fetch only when its SHA-256 is the one given at build time', async () => {
    const step = await checksumStep();
    const dir = await mkdtemp(join(workRoot, 'image-'));
    await copyFile(FETCH, join(dir, 'secrets-fetch.mjs'));
    const actual = sha256(await readFile(FETCH, 'utf8'));
    const build = (checksum: string | undefined) =>
      run('sh', ['-c', step], {
        cwd: dir,
        env: { PATH: '/usr/bin:/bin', ...(checksum === undefined ? {} : { SECRETS_FETCH_SHA256: checksum }) },
      });
    expect((await build(actual)).code).toBe(0);
    const wrong = await build('0'.repeat(64));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(
      `secrets-fetch.js has SHA-256 ${actual}, not ${'0'.repeat(64)} (SECRETS_FETCH_SHA256): take the file and its checksum from the same release\n`,
    );
    const missing = await build(undefined);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('set --build-arg SECRETS_FETCH_SHA256=<64 hex digits>');
  });

  it('starts the service through the entrypoint, as an unprivileged user', async () => {
    const text = await readFile(DOCKERFILE, 'utf8');
    expect(text).toContain('COPY entrypoint.sh /usr/local/bin/secrets-entrypoint\n');
    expect(text).toContain('ENTRYPOINT ["/sbin/tini", "--", "/usr/local/bin/secrets-entrypoint"]\n');
    expect(text).toContain('USER node\n');
  });
});
