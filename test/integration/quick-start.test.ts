/**
 * The README's commands, as written: `npm start` serves the broker on 127.0.0.1:8080, and `secrets-broker dev`
 * prints commands that run the bundled action against it. One file, so the two never hold port 8080 at once.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Child, REPO_ROOT, run, unconfiguredEnvironment } from '../helpers/child-process.js';

let server: Child | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await server?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe('quick start', () => {
  it('npm start serves the broker on 127.0.0.1:8080 with the embedded store and examples/policy.yaml', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'quick-start-'));
    const environment = unconfiguredEnvironment();
    // Only the data directory is moved out of the checkout, so the test leaves nothing behind in it.
    server = new Child('npm', ['start', '--silent'], {
      env: { ...environment, SECRETS_BROKER_DATA_DIR: dataDir },
      detached: true,
    });
    await server.waitFor(/secrets-broker listening/, 60_000);

    const info = (await (await fetch('http://127.0.0.1:8080/v1/info')).json()) as {
      audience: string;
      issuers: { url: string }[];
    };
    const example = parse(await readFile(join(REPO_ROOT, 'examples/policy.yaml'), 'utf8')) as {
      audience: string;
    };
    expect(info.audience).toBe(example.audience);
    expect(info.issuers.map((issuer) => issuer.url)).toEqual([
      'https://token.actions.githubusercontent.com',
      'https://gitlab.com',
    ]);
    expect((await fetch('http://127.0.0.1:8080/readyz')).status).toBe(200);

    expect(server.stderr).toMatch(/export SECRETS_BROKER_ADMIN_TOKEN=sbadm_/);
    expect(server.stdout).toContain('no SECRETS_BROKER_MASTER_KEY set');
    expect((await stat(join(dataDir, 'master.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'broker.db'))).mode & 0o777).toBe(0o600);
    expect(await server.stop()).not.toBeUndefined();
  });

  it('secrets-broker dev prints commands that fetch a secret with the bundled action', async () => {
    const dev = new Child('npx', ['secrets-broker', 'dev'], {
      env: unconfiguredEnvironment(),
      detached: true,
    });
    try {
      await dev.waitFor(/node dist\/index\.js\n.*cat "\$RUNNER_TEMP\/env"\n/, 60_000);
      const printed = dev.stdout.split('\n');
      const start =
        printed.findIndex((line) => line.startsWith('Run the action as a GitHub runner would')) + 2;
      const end = printed.indexOf('', start);
      const commands = printed
        .slice(start, end)
        .map((line) => line.replace(/^ {2}/, ''))
        .join('\n');
      expect(commands).toContain('node dist/index.js');

      // --norc: Debian's bash reads /etc/bash.bashrc when it takes its stdin for a remote shell's socket.
      const runner = await run('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', commands], {
        env: unconfiguredEnvironment(),
        cwd: REPO_ROOT,
      });
      expect(runner.stderr).toBe('');
      expect(runner.code).toBe(0);
      expect(runner.stdout).toContain('::add-mask::hello from the secrets broker');
      expect(runner.stdout).toMatch(/GREETING<<ghadelimiter_[0-9a-f-]+\nhello from the secrets broker\n/);
    } finally {
      await dev.stop();
    }
  });

  it("the README's quick-start commands run as written, each one exiting 0", async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start (one machine)'));
    const blocks = [...section.slice(0, section.indexOf('\n## ', 1)).matchAll(/```sh\n([\s\S]*?)```/g)].map(
      (match) => match[1]!,
    );
    // The first block is `npm ci` and `npm start`; the others are typed in a second terminal.
    expect(blocks[0]).toContain('npm start');
    const commands = blocks
      .slice(1)
      .flatMap((block) => block.replace(/\\\n\s*/g, '').split('\n'))
      .filter((line) => line.trim() !== '');
    expect(commands.length).toBeGreaterThanOrEqual(5);

    const quickStartDir = await mkdtemp(join(tmpdir(), 'quick-start-readme-'));
    const broker = new Child('npm', ['start', '--silent'], {
      env: { ...unconfiguredEnvironment(), SECRETS_BROKER_DATA_DIR: quickStartDir },
      detached: true,
    });
    try {
      const adminToken = (await broker.waitFor(/export SECRETS_BROKER_ADMIN_TOKEN=(\S+)/, 60_000))[1]!;
      await broker.waitFor(/secrets-broker listening/, 60_000);
      // "In another terminal, with that variable exported": nothing else is set.
      const terminal = { ...unconfiguredEnvironment(), SECRETS_BROKER_ADMIN_TOKEN: adminToken };
      for (const command of commands) {
        const shell = ['bash', '--norc', '--noprofile', '-euo', 'pipefail', '-c', command];
        if (command.includes('--prompt')) {
          // --prompt reads a terminal: `script` gives it one, and the value is typed when it is asked for.
          const typed = new Child(
            'script',
            ['-qec', shell.map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' '), '/dev/null'],
            {
              env: terminal,
              interactive: true,
            },
          );
          await typed.waitFor(/Value \(not shown\):/, 60_000);
          typed.type('quick-start-value\n');
          await typed.waitFor(/Again:/);
          typed.type('quick-start-value\n');
          expect(await typed.exited, `${command}\n${typed.stdout}`).toBe(0);
          continue;
        }
        const result = await run(shell[0]!, shell.slice(1), { env: terminal, cwd: REPO_ROOT });
        expect(result.code, `${command}\n${result.stderr}`).toBe(0);
      }
      const list = await run('npx', ['secrets-broker', 'secret', 'list', '--json'], {
        env: terminal,
        cwd: REPO_ROOT,
      });
      const names = (JSON.parse(list.stdout) as { name: string }[]).map((entry) => entry.name);
      expect(names).toEqual(expect.arrayContaining(['prod/api/DB_PASSWORD', 'prod/api/token']));
    } finally {
      await broker.stop();
      await rm(quickStartDir, { recursive: true, force: true });
    }
  });

  it('.ci/run installs from scratch and runs the README test command', async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const command = /Test command: `([^`]+)`/.exec(readme)?.[1];
    expect(command).toBeDefined();
    const ci = await readFile(join(REPO_ROOT, '.ci/run'), 'utf8');
    expect(ci).toContain('npm ci');
    expect(ci).toContain(command);
  });
});
