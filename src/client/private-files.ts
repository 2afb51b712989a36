import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Writes `content` to `path` with mode 0600, also when the file already existed with looser permissions. */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A fresh 0700 directory under RUNNER_TEMP for ENV=@NAME files. */
export async function makePrivateDirectory(runnerTemp: string): Promise<string> {
  const directory = join(resolve(runnerTemp), `secrets-action-${randomBytes(6).toString('hex')}`);
  await mkdir(directory, { mode: 0o700 });
  await chmod(directory, 0o700);
  return directory;
}

export type RemovalResult = 'removed' | 'already gone';

/** Overwrites a file with zeros, then unlinks it. A file that is already gone is not an error. */
export async function shredFile(path: string): Promise<RemovalResult> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'already gone';
    throw error;
  }
  const handle = await open(path, 'r+');
  try {
    await handle.write(Buffer.alloc(size), 0, size, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await unlink(path);
  return 'removed';
}

export async function removeDirectory(path: string): Promise<RemovalResult> {
  try {
    await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'already gone';
    throw error;
  }
  await rm(path, { recursive: true, force: true });
  return 'removed';
}
