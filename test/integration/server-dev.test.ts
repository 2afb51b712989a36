/**
 * `secrets-broker dev` and `serve` as a user runs them (the real CLI in a child process): a bad or busy port
 * ends the command with one clear line and a non-zero code, and dev leaves nothing behind (no temp directory;
 * the process exits, so no server of it is left). The runner commands dev prints run the post step too.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROKER_CLI, Child, REPO_ROOT, run, unconfiguredEnvironment } from '../helpers/child-process.js';
import { freePort } from '../helpers/free-port.js';
import { parseFileCommands } from '../helpers/runner.js';

let busy: Server;
let busyPort: number;
const directories: string[] = [];

beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => busy.close(resolve));
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

/** A fresh directory the child uses as its temp directory (TMPDIR), to see what it leaves behind. */
async function privateTemp(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'server-dev-'));
  directories.push(directory);
  return directory;
}

/** What dev left in `temp` (tsx keeps its compile cache there too, which is not dev's). */
async function leftBehind(temp: string): Promise<string[]> {
  return (await readdir(temp)).filter((name) => !name.startsWith('tsx-'));
}

async function broker(args: readonly string[], temp: string) {
  return run('node', [...BROKER_CLI, ...args], {
    env: { ...unconfiguredEnvironment(), TMPDIR: temp, SECRETS_BROKER_DATA_DIR: join(temp, 'data') },
  });
}

describe('secrets-broker dev fails cleanly', () => {
  it.each([
    ['--port', 'abc'],
    ['--port', '65536'],
    ['--port', '-1'],
    ['--issuer-port', '80.5'],
  ])('refuses %s %s as a usage error (exit 2) before starting anything', async (option, value) => {
    const temp = await privateTemp();
    const result = await broker(['dev', option, value], temp);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `error: ${option} "${value}" is not a port: give a whole number from 0 to 65535 (0 picks a free one)\n`,
    );
    expect(await leftBehind(temp)).toEqual([]);
  });

  it('with the broker port in use: exits 1 with a hint, and stops the issuer it started and removes its temp dir', async () => {
    const temp = await privateTemp();
    const result = await broker(['dev', '--port', String(busyPort), '--issuer-port', '0'], temp);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: port ${busyPort} on 127.0.0.1 is in use; choose another with --port\n`,
    );
    expect(result.stdout).toBe('');
    expect(await leftBehind(temp)).toEqual([]);
  });

  it('with the issuer port in use: exits 1 naming --issuer-port', async () => {
    const temp = await privateTemp();
    const result = await broker(['dev', '--port', '0', '--issuer-port', String(busyPort)], temp);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: port ${busyPort} on 127.0.0.1 is in use; choose another with --issuer-port\n`,
    );
    expect(await leftBehind(temp)).toEqual([]);
  });
});

describe('secrets-broker serve fails cleanly', () => {
  it('refuses --port abc as a usage error (exit 2)', async () => {
    const temp = await privateTemp();
    const result = await broker(['serve', '--port', 'abc'], temp);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: --port "abc" is not a port: give a whole number from 0 to 65535 (0 picks a free one)\n',
    );
  });

  it('refuses a bad SECRETS_BROKER_PORT naming the variable', async () => {
    const temp = await privateTemp();
    const result = await run('node', [...BROKER_CLI, 'serve'], {
      env: { ...unconfiguredEnvironment(), SECRETS_BROKER_PORT: '8o8o', SECRETS_BROKER_DATA_DIR: temp },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'error: SECRETS_BROKER_PORT "8o8o" is not a port: give a whole number from 0 to 65535 (0 picks a free one)\n',
    );
  });

  it('with its port in use: exits 1 with the same hint as dev, and nothing keeps running', async () => {
    const temp = await privateTemp();
    const result = await broker(['serve', '--port', String(busyPort)], temp);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: port ${busyPort} on 127.0.0.1 is in use; choose another with --port\n`,
    );
  });
});

describe('the runner commands secrets-broker dev prints', () => {
  it('run the main step, then the post step, which removes the file the main step wrote', async () => {
    const temp = await privateTemp();
    const runnerTemp = await privateTemp();
    const [port, issuerPort] = [await freePort(), await freePort()];
    const dev = new Child(
      'node',
      [...BROKER_CLI, 'dev', '--port', String(port), '--issuer-port', String(issuerPort)],
      {
        env: { ...unconfiguredEnvironment(), TMPDIR: temp },
      },
    );
    try {
      await dev.waitFor(/node dist\/post\.js\n/, 60_000);
      const printed = dev.stdout.split('\n');
      const start = printed.findIndex((line) => line.startsWith('  export RUNNER_TEMP='));
      const end = printed.indexOf('', start);
      const commands = printed.slice(start, end).map((line) => line.replace(/^ {2}/, ''));
      const post = commands.findIndex((line) => line.includes('node dist/post.js'));
      expect(post).toBe(commands.length - 1);

      // The main step alone, then the post step alone, as the runner runs them; RUNNER_TEMP is kept between.
      const shell = (script: string, environment: NodeJS.ProcessEnv) =>
        run('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', script], {
          env: { ...unconfiguredEnvironment(), TMPDIR: runnerTemp, ...environment },
          cwd: REPO_ROOT,
        });
      const main = await shell(`${commands.slice(0, post).join('\n')}\necho "RUNNER_TEMP=$RUNNER_TEMP"`, {});
      expect(main.stderr).toBe('');
      expect(main.code).toBe(0);
      const runnerTempDir = /^RUNNER_TEMP=(.+)$/m.exec(main.stdout)![1]!;
      const exported = parseFileCommands(await readFile(join(runnerTempDir, 'env'), 'utf8'));
      expect(exported.GREETING).toBe('hello from the secrets broker');
      const file = exported.GREETING_FILE!;
      expect(await readFile(file, 'utf8')).toBe('hello from the secrets broker');

      const cleanup = await shell(commands[post]!, { RUNNER_TEMP: runnerTempDir });
      expect(cleanup.stderr).toBe('');
      expect(cleanup.code).toBe(0);
      expect(cleanup.stdout).toContain(`Removed ${file}`);
      await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      expect(await dev.stop()).toBe(0);
    }
    expect(await leftBehind(temp)).toEqual([]);
  });
});
