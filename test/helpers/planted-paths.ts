/** What an attacker can leave where a secrets file is about to be written: each must be refused, untouched. */
import { chmod, symlink, writeFile } from 'node:fs/promises';

export type Plant = (path: string, outside: string) => Promise<void>;

export const PLANTED_PATHS: readonly (readonly [string, Plant])[] = [
  [
    'a symbolic link to a file elsewhere',
    async (path, outside) => {
      await writeFile(outside, 'victim\n', { mode: 0o644 });
      await chmod(outside, 0o644);
      await symlink(outside, path);
    },
  ],
  ['a dangling symbolic link', (path, outside) => symlink(outside, path)],
  [
    'a regular file',
    async (path) => {
      await writeFile(path, 'victim\n');
      await chmod(path, 0o644);
    },
  ],
];
