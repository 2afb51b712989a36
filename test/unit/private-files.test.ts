import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { removeCreated } from '../../src/action/cleanup.js';
import { CreatedFiles } from '../../src/action/created-files.js';
import { decodeCreated, encodeCreated } from '../../src/action/state.js';
import {
  checkPathFree,
  makePrivateDirectory,
  PrivateFileError,
  removeCreatedDirectory,
  removeCreatedFile,
  writeNewPrivateFile,
  type FileIdentity,
} from '../../src/client/private-files.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'private-files-'));
});

/** Something already at `path`, and the file outside that a link there leads to. */
const plants: readonly [string, (path: string, outside: string) => Promise<void>][] = [
  ['a symbolic link to a file', (path, outside) => symlink(outside, path)],
  ['a dangling symbolic link', (path) => symlink(join(root, 'nowhere'), path)],
  ['a symbolic link to a directory', (path) => symlink(root, path)],
  ['a regular file', (path) => writeFile(path, 'victim\n')],
  ['a directory', (path) => mkdir(path)],
  ['a FIFO', async (path) => void execFileSync('mkfifo', [path])],
];

async function victim(): Promise<string> {
  const outside = join(root, 'outside');
  await writeFile(outside, 'victim\n');
  await chmod(outside, 0o644);
  return outside;
}

async function expectVictimUntouched(outside: string): Promise<void> {
  expect(await readFile(outside, 'utf8')).toBe('victim\n');
  expect((await stat(outside)).mode & 0o777).toBe(0o644);
}

describe('a new private file', () => {
  it('is created 0600 and reports its device and inode before its content is written', async () => {
    const path = join(root, 'secrets.env');
    let seen: { identity: FileIdentity; size: number } | undefined;
    const identity = await writeNewPrivateFile(path, 'A=1\n', (created) => {
      seen = { identity: created, size: statSync(path).size };
    });
    expect(seen).toEqual({ identity, size: 0 });
    const stats = await stat(path, { bigint: true });
    expect(identity).toEqual({ path, dev: stats.dev.toString(), ino: stats.ino.toString() });
    expect(Number(stats.mode) & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe('A=1\n');
  });

  for (const [what, plant] of plants) {
    it(`is refused over ${what}, naming the path and the fix, and changes nothing`, async () => {
      const outside = await victim();
      const path = join(root, 'secrets.env');
      await plant(path, outside);
      const before = await lstat(path);
      for (const attempt of [() => checkPathFree(path), () => writeNewPrivateFile(path, 'SECRET=1\n')]) {
        const error = await attempt().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(PrivateFileError);
        expect((error as Error).message).toMatch(
          new RegExp(
            `^${path.replaceAll('/', '\\/')} already exists \\(.+\\); .*remove it or choose another path$`,
          ),
        );
      }
      const after = await lstat(path);
      expect([after.ino, after.mode, after.size]).toEqual([before.ino, before.mode, before.size]);
      await expectVictimUntouched(outside);
      await expect(lstat(join(root, 'nowhere'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('is refused in a directory that does not exist', async () => {
    const path = join(root, 'missing', 'secrets.env');
    await expect(checkPathFree(path)).rejects.toThrow(
      `the directory ${join(root, 'missing')} of ${path} does not exist: create it first or choose another path`,
    );
    await expect(writeNewPrivateFile(path, 'x')).rejects.toThrow(/does not exist/);
  });

  it('prints a hostile path escaped', async () => {
    const path = join(root, 'a\u001b[2J\nb');
    await writeFile(path, '');
    await expect(checkPathFree(path)).rejects.toThrow(`a\\x1b[2J\\nb already exists (a file)`);
  });

  it('is removed again when it cannot be recorded', async () => {
    const path = join(root, 'secrets.env');
    await expect(
      writeNewPrivateFile(path, 'SECRET=1\n', () => {
        throw new Error('state not writable');
      }),
    ).rejects.toThrow('state not writable');
    expect(await readdir(root)).toEqual([]);
  });
});

describe('a private directory', () => {
  it('is new, 0700, and never one that existed', async () => {
    const first = await makePrivateDirectory(root);
    const second = await makePrivateDirectory(root);
    expect(first.path).not.toBe(second.path);
    const stats = await stat(first.path, { bigint: true });
    expect(Number(stats.mode) & 0o777).toBe(0o700);
    expect(first.ino).toBe(stats.ino.toString());
  });
});

describe('removing only what was created', () => {
  async function created(): Promise<FileIdentity> {
    return writeNewPrivateFile(join(root, 'secrets.env'), 'SECRET=1\n');
  }

  it('zeroes and removes the created file, and says so once it is gone', async () => {
    const identity = await created();
    expect(await removeCreatedFile(identity)).toEqual({ kind: 'removed' });
    expect(await removeCreatedFile(identity)).toEqual({ kind: 'already gone' });
  });

  it('zeroes the file before unlinking it (a second link shows the zeros)', async () => {
    const identity = await created();
    const other = join(root, 'hard-link');
    execFileSync('ln', [identity.path, other]);
    expect(await removeCreatedFile(identity)).toEqual({ kind: 'removed' });
    expect(await readFile(other)).toEqual(Buffer.alloc('SECRET=1\n'.length));
  });

  const replacements: readonly [string, (path: string, outside: string) => Promise<void>, RegExp][] = [
    ['a symbolic link to another file', (path, outside) => symlink(outside, path), /now a symbolic link/],
    ['another regular file', (path) => writeFile(path, 'victim\n'), /now another file/],
    ['a directory', (path) => mkdir(path), /now a directory/],
    ['a FIFO', async (path) => void execFileSync('mkfifo', [path]), /now a special file/],
  ];
  for (const [what, replace, reason] of replacements) {
    it(`leaves ${what} put in its place alone`, async () => {
      const outside = await victim();
      const identity = await created();
      // The created file stays linked elsewhere, so nothing new can get its inode number.
      await rename(identity.path, join(root, 'moved-away'));
      await replace(identity.path, outside);
      const before = await lstat(identity.path);
      const outcome = await removeCreatedFile(identity);
      expect(outcome).toMatchObject({ kind: 'left alone', reason: expect.stringMatching(reason) });
      const after = await lstat(identity.path);
      expect([after.ino, after.mode, after.size]).toEqual([before.ino, before.mode, before.size]);
      await expectVictimUntouched(outside);
      if (what === 'another regular file') expect(await readFile(identity.path, 'utf8')).toBe('victim\n');
      expect(await readFile(join(root, 'moved-away'), 'utf8')).toBe('SECRET=1\n');
    });
  }

  it('leaves a file alone when the recorded inode is not its own', async () => {
    const identity = await created();
    const outcome = await removeCreatedFile({ ...identity, ino: String(BigInt(identity.ino) + 1n) });
    expect(outcome).toMatchObject({ kind: 'left alone', reason: expect.stringMatching(/another file/) });
    expect(await readFile(identity.path, 'utf8')).toBe('SECRET=1\n');
  });

  it('removes a directory with rmdir only while it is the created one and empty', async () => {
    const directory = await makePrivateDirectory(root);
    await writeFile(join(directory.path, 'not-ours'), 'x');
    expect(await removeCreatedDirectory(directory)).toMatchObject({
      kind: 'left alone',
      reason: 'it holds files this job did not create',
    });
    expect(await readdir(directory.path)).toEqual(['not-ours']);
    expect(await removeCreatedDirectory({ ...directory, ino: '1' })).toMatchObject({ kind: 'left alone' });

    const empty = await makePrivateDirectory(root);
    await rename(empty.path, join(root, 'moved-dir'));
    await symlink(root, empty.path);
    expect(await removeCreatedDirectory(empty)).toMatchObject({
      kind: 'left alone',
      reason: expect.stringMatching(/now a symbolic link/),
    });
    expect((await lstat(empty.path)).isSymbolicLink()).toBe(true);
  });

  it('cleans files first, then directories, and reports every outcome', async () => {
    const saved: string[] = [];
    const files = new CreatedFiles((encoded) => saved.push(encoded));
    const directory = await files.makeDirectory(root);
    await files.writeFile(join(directory, 'KUBECONFIG'), 'config');
    await files.writeFile(join(root, 'secrets.env'), 'A=1\n');
    expect(decodeCreated(saved.at(-1)!)).toEqual(files.state);
    expect(files.state.files).toHaveLength(2);
    const report = await removeCreated(files.state);
    expect(report).toEqual({
      removed: [join(directory, 'KUBECONFIG'), join(root, 'secrets.env'), directory],
      alreadyGone: [],
      leftAlone: [],
      failed: [],
    });
    expect(await readdir(root)).toEqual([]);
  });
});

describe('the saved state', () => {
  it('round-trips and drops any entry without a path, device and inode', () => {
    const state = {
      files: [{ path: '/a', dev: '1', ino: '18446744073709551615' }],
      directories: [{ path: '/d', dev: '2', ino: '3' }],
    };
    expect(decodeCreated(encodeCreated(state))).toEqual(state);
    expect(
      decodeCreated(
        JSON.stringify({
          files: ['/etc/passwd', { path: '/b', dev: '1' }, { path: '/c', dev: 'x', ino: '1' }, null],
          directories: 'nope',
        }),
      ),
    ).toEqual({ files: [], directories: [] });
    expect(decodeCreated('["/etc/passwd"]')).toEqual({ files: [], directories: [] });
    expect(decodeCreated('not json')).toEqual({ files: [], directories: [] });
  });
});
