import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, resolve } from 'node:path';

/** Where a command was found, or why it cannot be run, with the exit status a POSIX shell gives for that. */
export type ResolvedCommand =
  | { readonly kind: 'found'; readonly path: string }
  | { readonly kind: 'not_found' | 'not_executable'; readonly exitCode: 127 | 126; readonly reason: string };

/** The search path when PATH is not set, as libuv (and so Node's spawn) uses. */
const DEFAULT_PATH = '/usr/bin:/bin';

async function executableFile(path: string): Promise<'yes' | 'no' | 'directory' | 'missing'> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 'missing';
  if (info.isDirectory()) return 'directory';
  if (!info.isFile()) return 'no';
  return (await access(path, constants.X_OK).then(
    () => true,
    () => false,
  ))
    ? 'yes'
    : 'no';
}

/**
 * Finds `command` as a shell would before running it: a name with a slash is a path from `cwd`; a bare name is
 * looked up in each directory of PATH (an empty entry is the current directory; directories of that name are
 * passed over, as bash does). Nothing found is 127; found but not an executable file is 126.
 */
export async function resolveCommand(
  command: string,
  pathVariable: string | undefined,
  cwd: string,
): Promise<ResolvedCommand> {
  if (command === '') return { kind: 'not_found', exitCode: 127, reason: 'the command is empty' };
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    const state = await executableFile(path);
    if (state === 'yes') return { kind: 'found', path };
    if (state === 'missing') return { kind: 'not_found', exitCode: 127, reason: 'no such file' };
    return {
      kind: 'not_executable',
      exitCode: 126,
      reason: 'not an executable file (a directory, or no execute permission)',
    };
  }
  let nonExecutable: string | undefined;
  for (const directory of (pathVariable ?? DEFAULT_PATH).split(delimiter)) {
    const path = resolve(cwd, directory === '' ? '.' : directory, command);
    const state = await executableFile(path);
    if (state === 'yes') return { kind: 'found', path };
    if (state === 'no') nonExecutable ??= path;
  }
  if (nonExecutable !== undefined)
    return {
      kind: 'not_executable',
      exitCode: 126,
      reason: `${nonExecutable} is not an executable file (a directory, or no execute permission)`,
    };
  return { kind: 'not_found', exitCode: 127, reason: 'not found in any directory of PATH' };
}
