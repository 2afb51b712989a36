/**
 * O_NOFOLLOW guards only the last component of a path: a directory on the way that is a symbolic link is still
 * followed. A file that will hold secrets is therefore written only through real directories, checked from a
 * base directory down:
 *
 * - inside the base (the workspace, or the current directory): every directory between the base and the file.
 *   The base itself, and the directories above it, may be links (a workspace on a linked volume, /tmp on macOS).
 * - outside the base: every directory below the deepest directory the path shares with the base (for a workspace
 *   /home/runner/work/app/app and a file /home/runner/work/_temp/out/x.env: `_temp` and `out`). A path that shares
 *   only the root with the base has every directory checked.
 *
 * The check walks the path with lstat; a process that swaps a directory for a link between this check and the
 * open is not stopped (Node has no openat), but nothing in the job's checked-out files can do that.
 */
import { lstat } from 'node:fs/promises';
import { dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';

function isWithin(directory: string, ancestor: string): boolean {
  const rest = relative(ancestor, directory);
  return rest === '' || (!isAbsolute(rest) && rest !== '..' && !rest.startsWith(`..${sep}`));
}

/** The deepest directory that holds both (by their names), at worst the root of `directory`. */
function sharedAncestor(directory: string, base: string): string {
  for (let candidate = base; ; candidate = dirname(candidate)) {
    if (isWithin(directory, candidate)) return candidate;
    if (dirname(candidate) === candidate) return parse(directory).root;
  }
}

/**
 * The first directory on the way from `base` (or the directory it shares with `path`) to the directory of
 * `path` that is a symbolic link, or undefined when there is none. A directory that does not exist ends the
 * walk: creating the file there fails with its own message.
 */
export async function linkedDirectoryOnTheWay(path: string, base: string): Promise<string | undefined> {
  const directory = dirname(resolve(path));
  let current = sharedAncestor(directory, resolve(base));
  const rest = relative(current, directory);
  for (const part of rest === '' ? [] : rest.split(sep)) {
    current = join(current, part);
    const stats = await lstat(current).catch(() => undefined);
    if (stats === undefined) return undefined;
    if (stats.isSymbolicLink()) return current;
  }
  return undefined;
}
