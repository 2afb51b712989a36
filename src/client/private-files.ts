/**
 * Files that hold secret values: each is created new (never over something at its path, never through a
 * link, never through a linked directory), mode 0600 (0640 when asked), and removed later only while its path
 * still leads to that very file. "That very file" is the device, the inode and the birth time it had: an inode number alone is
 * handed to the next new file as soon as the file is deleted (ext4, tmpfs). Where the file system keeps no birth
 * time, the change time after the last write stands in for it, and a file whose metadata changed since is left
 * alone (with a warning) rather than removed.
 */
import { CodedError } from '../protocol/coded-error.js';
import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { lstat, mkdir, open, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { printable } from '../protocol/printable.js';
import { linkedDirectoryOnTheWay } from './real-directories.js';

/** A file or directory as created: its path, and the device, inode and times (decimal) that tell it apart. */
export interface FileIdentity {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
  /** Birth time in nanoseconds, where the file system keeps one (Linux statx, macOS, Windows). */
  readonly birthNs?: string;
  /** Change time in nanoseconds after the last write this job made: used only when there is no birth time. */
  readonly ctimeNs?: string;
}

/**
 * The modes a secrets file may have: 0600, or 0640 for a group that must read it (never wider; never read-only,
 * as the removal overwrites the file before unlinking it).
 */
export type PrivateFileMode = 0o600 | 0o640;

/** The mode of a private directory holding files of `fileMode`: its group may reach them by name, never list. */
export function directoryModeFor(fileMode: PrivateFileMode): 0o700 | 0o710 {
  return fileMode === 0o640 ? 0o710 : 0o700;
}

/** A path that cannot take a new file, or a file that could not be created: the message says what to do. */
export class PrivateFileError extends CodedError {
  readonly code: string = 'private_file_refused';
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

function identityOf(path: string, stats: BigIntStats, kind: 'file' | 'directory'): FileIdentity {
  const identity: FileIdentity = { path, dev: stats.dev.toString(), ino: stats.ino.toString() };
  const birth = stats.birthtimeNs > 0n ? { birthNs: stats.birthtimeNs.toString() } : {};
  // A directory's change time moves with every entry added or removed in it, so it cannot stand in for a birth.
  const change = kind === 'file' ? { ctimeNs: stats.ctimeNs.toString() } : {};
  return { ...identity, ...birth, ...change };
}

/** Why `stats` is not the file or directory `identity` records, or undefined when it is. */
function identityDifference(
  stats: BigIntStats,
  identity: FileIdentity,
  directory: boolean,
): string | undefined {
  if (stats.dev.toString() !== identity.dev || stats.ino.toString() !== identity.ino)
    return 'device and inode differ';
  if (identity.birthNs !== undefined)
    return stats.birthtimeNs.toString() === identity.birthNs ? undefined : 'its birth time differs';
  // rmdir removes only an empty directory, and ours have random names: device and inode are enough for them.
  if (directory) return undefined;
  if (identity.ctimeNs !== undefined)
    return stats.ctimeNs.toString() === identity.ctimeNs ? undefined : 'its change time differs';
  return 'no birth or change time was recorded for it';
}

/** The very same file, seen twice: nothing about it changed in between. */
function sameState(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birthtimeNs === b.birthtimeNs && a.ctimeNs === b.ctimeNs;
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

/** Refuses a path with a symbolic link among its directories below `base` (see real-directories.ts). */
async function checkRealDirectories(path: string, base: string): Promise<void> {
  const link = await linkedDirectoryOnTheWay(path, base);
  if (link !== undefined)
    throw new PrivateFileError(
      `${printable(path)} is refused: ${printable(link)} is a symbolic link; secrets are written only through ` +
        'real directories, so that a link planted in the workspace cannot lead them elsewhere: remove the link ' +
        'or choose a path without one',
    );
}

/**
 * Refuses a path where something already exists (of any type, a dangling link included), whose directory is
 * missing, or that leads through a linked directory below `base`. Writes nothing: it lets a step fail before it
 * asks for a token.
 */
export async function checkPathFree(path: string, base: string = process.cwd()): Promise<void> {
  await checkRealDirectories(path, base);
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

export interface NewFileOptions {
  /**
   * Told the identity to record for the file: once before a byte is written (so a cleanup that runs after a
   * crash knows it), and again after the last write (with the change time that may have to stand in for a
   * birth time).
   */
  readonly record?: (identity: FileIdentity) => void;
  /** The directory below which no directory on the way may be a link (default: the current directory). */
  readonly base?: string;
  /** Default 0600. */
  readonly mode?: PrivateFileMode;
}

/**
 * Creates `path` as a new file of mode `options.mode` (0600 by default) holding `content`, and returns its
 * identity after the last write. If writing or recording fails, the new file is removed again.
 */
export async function writeNewPrivateFile(
  path: string,
  content: string,
  options: NewFileOptions = {},
): Promise<FileIdentity> {
  const record = options.record ?? (() => undefined);
  const mode = options.mode ?? 0o600;
  // Typed already; checked again because a wider mode here would leak every value written.
  if (mode !== 0o600 && mode !== 0o640)
    throw new PrivateFileError(
      `mode ${(mode as number).toString(8)} is refused: a secrets file is 0600 or 0640`,
    );
  await checkRealDirectories(path, options.base ?? process.cwd());
  const handle = await createNew(path);
  let identity: FileIdentity | undefined;
  try {
    identity = identityOf(path, await handle.stat({ bigint: true }), 'file');
    record(identity);
    // The umask may have taken bits away: set exactly the mode asked for.
    await handle.chmod(mode);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
    identity = identityOf(path, await handle.stat({ bigint: true }), 'file');
    record(identity);
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (identity !== undefined) await removeCreatedFile(identity).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return identity;
}

/**
 * A fresh directory with a random name under `parent` (never one that existed before), mode 0700, or 0710 for
 * files of mode 0640.
 */
export async function makePrivateDirectory(
  parent: string,
  onCreated: (identity: FileIdentity) => void = () => undefined,
  mode: 0o700 | 0o710 = 0o700,
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
    const identity = await directoryIdentity(path, mode);
    onCreated(identity);
    return identity;
  } catch (error) {
    await rmdir(path).catch(() => undefined);
    throw error;
  }
}

/** Its identity from a handle on it where directories can be opened, and its mode set to exactly `mode`. */
async function directoryIdentity(path: string, mode: 0o700 | 0o710): Promise<FileIdentity> {
  if (process.platform === 'win32') return identityOf(path, await lstat(path, { bigint: true }), 'directory');
  const handle = await open(path, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | NOFOLLOW);
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isDirectory()) throw new PrivateFileError(`${printable(path)} changed while it was created`);
    await handle.chmod(mode);
    return identityOf(path, stats, 'directory');
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
  const difference = identityDifference(stats, identity, directory);
  if (difference !== undefined)
    return `it is now another ${directory ? 'directory' : 'file'} than the one this job created (${difference})`;
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
 * compared again, and the path once more before the unlink (against the file as it is after the zeros).
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
  let zeroed: BigIntStats;
  try {
    const opened = await handle.stat({ bigint: true });
    const openedChanged = notTheCreated(opened, identity, false);
    if (openedChanged !== undefined) return { kind: 'left alone', reason: openedChanged };
    await overwriteWithZeros(handle, opened.size);
    zeroed = await handle.stat({ bigint: true });
  } finally {
    await handle.close();
  }
  const after = await lstatOrUndefined(identity.path);
  if (after === undefined) return ALREADY_GONE;
  if (!after.isFile() || !sameState(after, zeroed))
    return { kind: 'left alone', reason: 'it was replaced while it was being removed' };
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
