import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { basename, delimiter, isAbsolute, resolve } from 'node:path';
import { printable } from '../protocol/printable.js';

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

/** As much of a script's first line as the kernel reads for its `#!` line (Linux's BINPRM_BUF_SIZE). */
const INTERPRETER_LINE_BYTES = 256;

/**
 * The interpreter and its argument on a `#!` line at the start of the file, or undefined when the file has
 * none (a binary, or a script the shell runs itself), cannot be read, is not UTF-8, or its interpreter does
 * not end within the first INTERPRETER_LINE_BYTES bytes. As the kernel reads it: the interpreter runs to the
 * first space or tab, the rest of the line (trimmed) is one argument.
 */
async function interpreterLine(path: string): Promise<{ interpreter: string; argument: string } | undefined> {
  const file = await open(path, 'r').catch(() => undefined);
  if (file === undefined) return undefined;
  let text: string;
  try {
    const buffer = Buffer.alloc(INTERPRETER_LINE_BYTES);
    const { bytesRead } = await file.read(buffer, 0, INTERPRETER_LINE_BYTES, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await file.close();
  }
  if (!text.startsWith('#!')) return undefined;
  const newline = text.indexOf('\n');
  const line = (newline === -1 ? text : text.slice(0, newline)).slice(2).replace(/^[ \t]+/, '');
  const end = line.search(/[ \t]/);
  if (end === -1 && newline === -1) return undefined;
  const interpreter = end === -1 ? line : line.slice(0, end);
  const argument = end === -1 ? '' : line.slice(end).trim();
  // Not UTF-8: not a path this check could name exactly, so spawn is left to judge it.
  if (interpreter === '' || interpreter.includes('\uFFFD') || argument.includes('\uFFFD')) return undefined;
  return { interpreter, argument };
}

function notRunnable(state: 'no' | 'directory' | 'missing', what = ''): ResolvedCommand {
  return state === 'missing'
    ? { kind: 'not_found', exitCode: 127, reason: `${what}no such file` }
    : {
        kind: 'not_executable',
        exitCode: 126,
        reason: `${what}not an executable file (a directory, or no execute permission)`,
      };
}

/**
 * Why the `#!` interpreter of the executable file `path` cannot run it (as bash reports a bad interpreter:
 * 127 when missing, 126 when not executable), or undefined when it can or the file names none. For
 * `#!/usr/bin/env NAME`, NAME is looked up on PATH too, as env will.
 */
async function interpreterProblem(
  path: string,
  pathVariable: string | undefined,
  cwd: string,
): Promise<ResolvedCommand | undefined> {
  const line = await interpreterLine(path);
  if (line === undefined) return undefined;
  const interpreter = resolve(cwd, line.interpreter);
  const state = await executableFile(interpreter);
  if (state !== 'yes') return notRunnable(state, `its interpreter ${printable(line.interpreter)}: `);
  const name = line.argument;
  if (basename(interpreter) !== 'env' || name === '' || name.startsWith('-') || /[ \t=]/.test(name))
    return undefined;
  const found = await findCommand(name, pathVariable, cwd);
  if (found.kind === 'found') return undefined;
  return { ...found, reason: `its interpreter ${printable(name)} (through env): ${found.reason}` };
}

/**
 * Finds `command` as a shell would before running it: a name with a slash is a path from `cwd`; a bare name is
 * looked up in each directory of PATH (an empty entry is the current directory; directories of that name are
 * passed over, as bash does). Nothing found is 127; found but not an executable file is 126. A script whose
 * `#!` interpreter is missing or not executable is refused the same way, before anything runs.
 */
export async function resolveCommand(
  command: string,
  pathVariable: string | undefined,
  cwd: string,
): Promise<ResolvedCommand> {
  const found = await findCommand(command, pathVariable, cwd);
  if (found.kind !== 'found') return found;
  return (await interpreterProblem(found.path, pathVariable, cwd)) ?? found;
}

async function findCommand(
  command: string,
  pathVariable: string | undefined,
  cwd: string,
): Promise<ResolvedCommand> {
  if (command === '') return { kind: 'not_found', exitCode: 127, reason: 'the command is empty' };
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    const state = await executableFile(path);
    return state === 'yes' ? { kind: 'found', path } : notRunnable(state);
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
