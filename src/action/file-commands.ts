import { stat, truncate } from 'node:fs/promises';

/** The runner's file-command files a step appends its variables and outputs to. */
const FILE_COMMANDS = ['GITHUB_ENV', 'GITHUB_OUTPUT'] as const;

/**
 * The length of each file-command file before this step appends to it. The runner reads them only after the
 * step ends, so cutting them back to these lengths takes back every variable and output the step wrote.
 */
export interface FileCommandCheckpoint {
  readonly lengths: ReadonlyMap<string, number>;
}

export async function fileCommandCheckpoint(): Promise<FileCommandCheckpoint> {
  const lengths = new Map<string, number>();
  for (const name of FILE_COMMANDS) {
    const path = process.env[name];
    if (!path) continue;
    const stats = await stat(path).catch(() => undefined);
    if (stats?.isFile() === true) lengths.set(path, stats.size);
  }
  return { lengths };
}

/** Cuts each file back to its checkpoint length; returns the paths that could not be (never throws). */
export async function restoreFileCommands(checkpoint: FileCommandCheckpoint): Promise<string[]> {
  const failed: string[] = [];
  for (const [path, length] of checkpoint.lengths) {
    try {
      await truncate(path, length);
    } catch {
      failed.push(path);
    }
  }
  return failed;
}
