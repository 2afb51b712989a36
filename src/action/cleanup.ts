import {
  removeCreatedDirectory,
  removeCreatedFile,
  type FileIdentity,
  type RemovalOutcome,
} from '../client/private-files.js';
import { printable } from '../protocol/printable.js';
import * as core from './runner-commands.js';
import type { CreatedState } from './state.js';

export interface CleanupReport {
  readonly removed: readonly string[];
  readonly alreadyGone: readonly string[];
  /** Paths that no longer lead to what this job created: nothing there was changed. */
  readonly leftAlone: readonly { readonly path: string; readonly reason: string }[];
  readonly failed: readonly { readonly path: string; readonly reason: string }[];
}

/**
 * Removes what the main step created: files first (overwritten with zeros), then their directories, each only
 * while its path still leads to the same device and inode. Never throws: every outcome is reported.
 */
export async function removeCreated(created: CreatedState): Promise<CleanupReport> {
  const removed: string[] = [];
  const alreadyGone: string[] = [];
  const leftAlone: { path: string; reason: string }[] = [];
  const failed: { path: string; reason: string }[] = [];
  const attempt = async (
    identity: FileIdentity,
    remove: (identity: FileIdentity) => Promise<RemovalOutcome>,
  ): Promise<void> => {
    try {
      const outcome = await remove(identity);
      if (outcome.kind === 'removed') removed.push(identity.path);
      else if (outcome.kind === 'already gone') alreadyGone.push(identity.path);
      else leftAlone.push({ path: identity.path, reason: outcome.reason });
    } catch (error) {
      failed.push({
        path: identity.path,
        reason: (error as NodeJS.ErrnoException).code ?? (error as Error).message,
      });
    }
  };
  for (const file of created.files) await attempt(file, removeCreatedFile);
  for (const directory of [...created.directories].reverse())
    await attempt(directory, removeCreatedDirectory);
  return { removed, alreadyGone, leftAlone, failed };
}

/** Tells the log what a cleanup did; `failedHint` says what happens to what could not be removed. */
export function reportCleanup(report: CleanupReport, failedHint: string): void {
  for (const path of report.removed) core.info(`Removed ${printable(path)}`);
  for (const path of report.alreadyGone) core.info(`Already gone: ${printable(path)}`);
  for (const { path, reason } of report.leftAlone)
    core.warning(`Left ${printable(path)} as it is: ${printable(reason)}`);
  for (const { path, reason } of report.failed)
    core.warning(`Could not remove ${printable(path)} (${printable(reason)}); ${failedHint}`);
}
