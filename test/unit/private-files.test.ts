import { execFileSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
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
  unlink,
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

/**
 * Changes the file's metadata until its change time passes its birth time: from then on, the file system's
 * clock has moved on, and a file created later cannot share its birth time. Bounded by a count, not a clock.
 */
async function letTheFileClockPass(identity: FileIdentity): Promise<void> {
  for (let attempt = 0; attempt < 1_000_000; attempt += 1) {
    chmodSync(identity.path, 0o600);
    if (statSync(identity.path, { bigint: true }).ctimeNs > BigInt(identity.birthNs!)) return;
  }
  throw new Error('the file system clock did not move');
}

async function expectVictimUntouched(outside: string): Promise<void> {
  expect(await readFile(outside, 'utf8')).toBe('victim\n');
  expect((await stat(outside)).mode & 0o777).toBe(0o644);
}

describe('a new private file', () => {
  it('is created 0600 and records its identity before its content is written and again after', async () => {
    const path = join(root, 'secrets.env');
    const seen: { identity: FileIdentity; size: number }[] = [];
    const identity = await writeNewPrivateFile(path, 'A=1\n', {
      record: (created) => seen.push({ identity: created, size: statSync(path).size }),
    });
    const stats = await stat(path, { bigint: true });
    expect(identity).toEqual({
      path,
      dev: stats.dev.toString(),
      ino: stats.ino.toString(),
      birthNs: stats.birthtimeNs.toString(),
      ctimeNs: stats.ctimeNs.toString(),
    });
    expect(seen.map(({ size }) => size)).toEqual([0, 4]);
    expect(seen.at(-1)?.identity).toEqual(identity);
    expect(seen[0]?.identity).toMatchObject({ path, dev: identity.dev, ino: identity.ino });
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
      writeNewPrivateFile(path, 'SECRET=1\n', {
        record: () => {
          throw new Error('state not writable');
        },
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

  it("leaves alone a new file that got the created file's inode number after it was deleted", async () => {
    const identity = await created();
    await letTheFileClockPass(identity);
    // A later step deletes the file and something else is written at its path; ext4 and tmpfs hand the
    // freed inode number to the next new file at once.
    await unlink(identity.path);
    await writeFile(identity.path, 'build output the job keeps\n');
    const outcome = await removeCreatedFile(identity);
    expect(outcome).toMatchObject({
      kind: 'left alone',
      reason: expect.stringMatching(/another file than the one this job created/),
    });
    expect(await readFile(identity.path, 'utf8')).toBe('build output the job keeps\n');
  });

  it('leaves a file alone when its birth time is not the recorded one (same device and inode)', async () => {
    const identity = await created();
    expect(identity.birthNs).toMatch(/^[1-9][0-9]*$/);
    const outcome = await removeCreatedFile({ ...identity, birthNs: String(BigInt(identity.birthNs!) + 1n) });
    expect(outcome).toMatchObject({
      kind: 'left alone',
      reason: 'it is now another file than the one this job created (its birth time differs)',
    });
    expect(await readFile(identity.path, 'utf8')).toBe('SECRET=1\n');
  });

  it('without a birth time, compares the change time recorded after the last write', async () => {
    const withoutBirth: FileIdentity = { ...(await created()), birthNs: undefined };
    expect(
      await removeCreatedFile({ ...withoutBirth, ctimeNs: String(BigInt(withoutBirth.ctimeNs!) - 1n) }),
    ).toMatchObject({
      kind: 'left alone',
      reason: 'it is now another file than the one this job created (its change time differs)',
    });
    expect(await removeCreatedFile({ ...withoutBirth, ctimeNs: undefined })).toMatchObject({
      kind: 'left alone',
      reason: expect.stringMatching(/no birth or change time was recorded/),
    });
    expect(await readFile(withoutBirth.path, 'utf8')).toBe('SECRET=1\n');
    expect(await removeCreatedFile(withoutBirth)).toEqual({ kind: 'removed' });
  });

  it('keeps a file whose birth time was recorded removable after a later step changed it', async () => {
    const identity = await created();
    await chmod(identity.path, 0o640);
    await writeFile(identity.path, 'EXTRA=1\n', { flag: 'a' });
    expect(await removeCreatedFile(identity)).toEqual({ kind: 'removed' });
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
    expect(
      await removeCreatedDirectory({ ...directory, birthNs: String(BigInt(directory.birthNs!) + 1n) }),
    ).toMatchObject({ kind: 'left alone', reason: expect.stringMatching(/birth time differs/) });

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
    await files.writeFile(join(directory, 'KUBECONFIG'), 'config', directory);
    await files.writeFile(join(root, 'secrets.env'), 'A=1\n', root);
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
      files: [
        { path: '/a', dev: '1', ino: '18446744073709551615', birthNs: '1700000000123456789', ctimeNs: '5' },
        { path: '/b', dev: '1', ino: '2', ctimeNs: '1700000000123456789' },
      ],
      directories: [{ path: '/d', dev: '2', ino: '3', birthNs: '7' }],
    };
    expect(decodeCreated(encodeCreated(state))).toEqual(state);
    expect(
      decodeCreated(
        JSON.stringify({
          files: [
            ...['/etc/passwd', { path: '/b', dev: '1' }, { path: '/c', dev: 'x', ino: '1' }, null],
            { path: '/e', dev: '1', ino: '1', birthNs: '1e9' },
            { path: '/f', dev: '1', ino: '1', ctimeNs: -1 },
          ],
          directories: 'nope',
        }),
      ),
    ).toEqual({ files: [], directories: [] });
    expect(decodeCreated('["/etc/passwd"]')).toEqual({ files: [], directories: [] });
    expect(decodeCreated('not json')).toEqual({ files: [], directories: [] });
  });
});

describe('a new private file is written only through real directories', () => {
  /** A workspace, and a published directory outside it that a planted link leads to. */
  async function workspaceWithPublished(): Promise<{ workspace: string; published: string }> {
    const workspace = join(root, 'workspace');
    const published = join(root, 'published-site');
    await mkdir(workspace);
    await mkdir(published);
    return { workspace, published };
  }

  async function expectRefused(path: string, base: string, link: string): Promise<void> {
    for (const attempt of [
      () => checkPathFree(path, base),
      () => writeNewPrivateFile(path, 'SECRET=1\n', { base }),
    ]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PrivateFileError);
      expect((error as Error).message).toBe(
        `${path} is refused: ${link} is a symbolic link; secrets are written only through real directories, ` +
          'so that a link planted in the workspace cannot lead them elsewhere: remove the link or choose a path without one',
      );
    }
  }

  it('refuses a path whose directory in the workspace is a symbolic link, and writes nothing', async () => {
    const { workspace, published } = await workspaceWithPublished();
    await symlink(published, join(workspace, 'out'));
    await expectRefused(join(workspace, 'out', 'secrets.env'), workspace, join(workspace, 'out'));
    expect(await readdir(published)).toEqual([]);
  });

  it('refuses a link deeper down, and a link that stays inside the workspace', async () => {
    const { workspace, published } = await workspaceWithPublished();
    await mkdir(join(workspace, 'a'));
    await symlink(published, join(workspace, 'a', 'b'));
    await expectRefused(join(workspace, 'a', 'b', 'secrets.env'), workspace, join(workspace, 'a', 'b'));
    await mkdir(join(workspace, 'real'));
    await symlink(join(workspace, 'real'), join(workspace, 'alias'));
    await expectRefused(join(workspace, 'alias', 'secrets.env'), workspace, join(workspace, 'alias'));
    expect(await readdir(published)).toEqual([]);
    expect(await readdir(join(workspace, 'real'))).toEqual([]);
  });

  it('accepts real directories, and a workspace that is itself reached through a link', async () => {
    const { workspace } = await workspaceWithPublished();
    await mkdir(join(workspace, 'out'));
    const linkedWorkspace = join(root, 'linked-workspace');
    await symlink(workspace, linkedWorkspace);
    for (const base of [workspace, linkedWorkspace]) {
      const path = join(base, 'out', `secrets-${base === workspace ? 1 : 2}.env`);
      await checkPathFree(path, base);
      await writeNewPrivateFile(path, 'A=1\n', { base });
    }
    expect((await readdir(join(workspace, 'out'))).sort()).toEqual(['secrets-1.env', 'secrets-2.env']);
  });

  it('outside the base, checks the directories below the deepest one it shares with the base', async () => {
    const { workspace, published } = await workspaceWithPublished();
    await mkdir(join(root, 'temp'));
    await symlink(published, join(root, 'temp', 'out'));
    await expectRefused(join(root, 'temp', 'out', 'secrets.env'), workspace, join(root, 'temp', 'out'));
    const linkedTemp = join(root, 'linked-temp');
    await symlink(join(root, 'temp'), linkedTemp);
    await expectRefused(join(linkedTemp, 'secrets.env'), workspace, linkedTemp);
    await writeNewPrivateFile(join(root, 'temp', 'secrets.env'), 'A=1\n', { base: workspace });
    expect(await readdir(published)).toEqual([]);
  });

  it('checks against the current directory when no base is given', async () => {
    const { workspace, published } = await workspaceWithPublished();
    await symlink(published, join(workspace, 'out'));
    const path = join(workspace, 'out', 'secrets.env');
    await expect(checkPathFree(path)).rejects.toThrow(`${join(workspace, 'out')} is a symbolic link`);
    await expect(writeNewPrivateFile(path, 'SECRET=1\n')).rejects.toThrow('is a symbolic link');
    expect(await readdir(published)).toEqual([]);
  });
});
