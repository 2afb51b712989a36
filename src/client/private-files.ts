/**
 * Files that hold secret values: each is created new (never over something at its path, never through a
 * link), mode 0600, and removed later only while its path still leads to that very file (same device and
 * inode as when it was created). Nothing here follows a symbolic link at the final path component.
 */
import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { lstat, mkdir, open, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { printable } from '../protocol/printable.js';

/** A file or directory as created: its path, and the device and inode (decimal) it had then. */
export interface FileIdentity {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
}

/** A path that cannot take a new file, or a file that could not be created: the message says what to do. */
export class PrivateFileError extends Error {
  override name = 'PrivateFileError';
}

// Platforms without O_NOFOLLOW (Windows) still get O_EXCL, which never follows a link to create a file.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const CREATE_NEW = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | NOFOLLOW;
const ZEROS = Buffer.alloc(64 * 1024);

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

function kindOf(stats: { isSymbolicLink(): boolean; isFile(): boolean; isDirectory(): boolean }): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFile()) return 'a file';
  if (stats.isDirectory()) return 'a directory';
  return 'a special file (FIFO, socket or device)';
}

function identityOf(path: string, stats: BigIntStats): FileIdentity {
  return { path, dev: stats.dev.toString(), ino: stats.ino.toString() };
}

function sameIdentity(stats: BigIntStats, identity: FileIdentity): boolean {
  return stats.dev.toString() === identity.dev && stats.ino.toString() === identity.ino;
}

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function alreadyExists(path: string, kind: string): PrivateFileError {
  return new PrivateFileError(
    `${printable(path)} already exists (${kind}); secrets are written only to a new file, never over ` +
      'a file or through a link: remove it or choose another path',
  );
}

/**
 * Refuses a path where something already exists (of any type, a dangling link included) or whose directory is
 * missing. Writes nothing: it lets a step fail before it asks for a token.
 */
export async function checkPathFree(path: string): Promise<void> {
  const existing = await lstatOrUndefined(path).catch((error: unknown) => {
    throw new PrivateFileError(`cannot use ${printable(path)}: ${errorCode(error) ?? String(error)}`);
  });
  if (existing !== undefined) throw alreadyExists(path, kindOf(existing));
  const parent = dirname(path);
  const parentStats = await stat(parent).catch(() => undefined);
  if (parentStats === undefined || !parentStats.isDirectory()) {
    throw new PrivateFileError(
      `the directory ${printable(parent)} of ${printable(path)} does not exist: create it first or choose another path`,
    );
  }
}

async function createNew(path: string): Promise<FileHandle> {
  try {
    return await open(path, CREATE_NEW, 0o600);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST' || code === 'ELOOP') {
      const existing = await lstatOrUndefined(path).catch(() => undefined);
      throw alreadyExists(path, existing === undefined ? 'it was there a moment ago' : kindOf(existing));
    }
    if (code === 'ENOENT')
      throw new PrivateFileError(
        `the directory of ${printable(path)} does not exist: create it first or choose another path`,
      );
    throw new PrivateFileError(`cannot create ${printable(path)}: ${code ?? String(error)}`);
  }
}

/**
 * Creates `path` as a new 0600 file, tells `onCreated` its identity before a byte is written (so a cleanup
 * that runs later knows it), then writes `content`. If writing fails, the new file is removed again.
 */
export async function writeNewPrivateFile(
  path: string,
  content: string,
  onCreated: (identity: FileIdentity) => void = () => undefined,
): Promise<FileIdentity> {
  const handle = await createNew(path);
  let identity: FileIdentity | undefined;
  try {
    identity = identityOf(path, await handle.stat({ bigint: true }));
    onCreated(identity);
    // The umask may have taken bits away; the owner needs exactly read and write.
    await handle.chmod(0o600);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (identity !== undefined) await removeCreatedFile(identity).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return identity;
}

/** A fresh 0700 directory with a random name under `parent` (never one that existed before). */
export async function makePrivateDirectory(
  parent: string,
  onCreated: (identity: FileIdentity) => void = () => undefined,
): Promise<FileIdentity> {
  const path = join(resolve(parent), `secrets-action-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (error) {
    throw new PrivateFileError(
      `cannot create a directory in ${printable(parent)}: ${errorCode(error) ?? String(error)}`,
    );
  }
  try {
    const identity = await directoryIdentity(path);
    onCreated(identity);
    return identity;
  } catch (error) {
    await rmdir(path).catch(() => undefined);
    throw error;
  }
}

/** Its identity from a handle on it where directories can be opened, and its mode set to exactly 0700. */
async function directoryIdentity(path: string): Promise<FileIdentity> {
  if (process.platform === 'win32') return identityOf(path, await lstat(path, { bigint: true }));
  const handle = await open(path, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | NOFOLLOW);
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isDirectory()) throw new PrivateFileError(`${printable(path)} changed while it was created`);
    await handle.chmod(0o700);
    return identityOf(path, stats);
  } finally {
    await handle.close();
  }
}

export type RemovalOutcome =
  | { readonly kind: 'removed' }
  | { readonly kind: 'already gone' }
  /** The path no longer leads to what was created: nothing was changed there. */
  | { readonly kind: 'left alone'; readonly reason: string };

const REMOVED = { kind: 'removed' } as const;
const ALREADY_GONE = { kind: 'already gone' } as const;

/** Why what is at the path now is not the created file or directory, or undefined when it still is. */
function notTheCreated(stats: BigIntStats, identity: FileIdentity, directory: boolean): string | undefined {
  const expected = directory ? stats.isDirectory() : stats.isFile();
  if (!expected)
    return `it is now ${kindOf(stats)}, not the ${directory ? 'directory' : 'file'} this job created`;
  if (!sameIdentity(stats, identity))
    return `it is now another ${directory ? 'directory' : 'file'} than the one this job created (device and inode differ)`;
  return undefined;
}

async function overwriteWithZeros(handle: FileHandle, size: bigint): Promise<void> {
  for (let offset = 0n; offset < size; offset += BigInt(ZEROS.length)) {
    const length = Number(size - offset < BigInt(ZEROS.length) ? size - offset : BigInt(ZEROS.length));
    await handle.write(ZEROS, 0, length, Number(offset));
  }
  await handle.sync();
}

/**
 * Overwrites the created file with zeros, then unlinks it, only while its path still leads to that file: the
 * path is checked before opening, the open never follows a link (nor waits on a FIFO), the opened file is
 * compared again, and the path once more before the unlink.
 */
export async function removeCreatedFile(identity: FileIdentity): Promise<RemovalOutcome> {
  const before = await lstatOrUndefined(identity.path);
  if (before === undefined) return ALREADY_GONE;
  const changed = notTheCreated(before, identity, false);
  if (changed !== undefined) return { kind: 'left alone', reason: changed };
  let handle: FileHandle;
  try {
    handle = await open(identity.path, constants.O_WRONLY | NOFOLLOW | NONBLOCK);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return ALREADY_GONE;
    if (code === 'ELOOP') return { kind: 'left alone', reason: 'it is now a symbolic link' };
    if (code === 'ENXIO') return { kind: 'left alone', reason: 'it is now a FIFO' };
    throw error;
  }
  try {
    const opened = await handle.stat({ bigint: true });
    const openedChanged = notTheCreated(opened, identity, false);
    if (openedChanged !== undefined) return { kind: 'left alone', reason: openedChanged };
    await overwriteWithZeros(handle, opened.size);
  } finally {
    await handle.close();
  }
  const after = await lstatOrUndefined(identity.path);
  if (after === undefined) return ALREADY_GONE;
  const changedSince = notTheCreated(after, identity, false);
  if (changedSince !== undefined) return { kind: 'left alone', reason: changedSince };
  await unlink(identity.path);
  return REMOVED;
}

/** Removes the created directory with rmdir (never recursively), only while its path still leads to it. */
export async function removeCreatedDirectory(identity: FileIdentity): Promise<RemovalOutcome> {
  const before = await lstatOrUndefined(identity.path);
  if (before === undefined) return ALREADY_GONE;
  const changed = notTheCreated(before, identity, true);
  if (changed !== undefined) return { kind: 'left alone', reason: changed };
  try {
    await rmdir(identity.path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return ALREADY_GONE;
    if (code === 'ENOTEMPTY' || code === 'EEXIST')
      return { kind: 'left alone', reason: 'it holds files this job did not create' };
    throw error;
  }
  return REMOVED;
}
