import { removeDirectory, shredFile, type RemovalResult } from '../client/private-files.js';

export interface CleanupReport {
  readonly removed: readonly string[];
  readonly alreadyGone: readonly string[];
  readonly failed: readonly { readonly path: string; readonly reason: string }[];
}

/** Removes files (overwritten first), then their directories. Never throws: failures are reported. */
export async function removeAll(
  files: readonly string[],
  directories: readonly string[],
): Promise<CleanupReport> {
  const removed: string[] = [];
  const alreadyGone: string[] = [];
  const failed: { path: string; reason: string }[] = [];
  const attempt = async (path: string, remove: (path: string) => Promise<RemovalResult>): Promise<void> => {
    try {
      ((await remove(path)) === 'removed' ? removed : alreadyGone).push(path);
    } catch (error) {
      failed.push({ path, reason: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
    }
  };
  for (const file of files) await attempt(file, shredFile);
  for (const directory of directories) await attempt(directory, removeDirectory);
  return { removed, alreadyGone, failed };
}
