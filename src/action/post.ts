import * as core from '@actions/core';
import { removeAll } from './cleanup.js';
import { STATE_DIRECTORIES, STATE_FILES } from './state.js';

function stateList(name: string): string[] {
  const text = core.getState(name);
  if (text === '') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
  } catch {
    return [];
  }
}

/** The post step: removes every file the main step wrote. It never fails the job. */
export async function runPost(): Promise<void> {
  try {
    const report = await removeAll(stateList(STATE_FILES), stateList(STATE_DIRECTORIES));
    if (report.removed.length === 0 && report.alreadyGone.length === 0 && report.failed.length === 0) {
      core.info('No secret files to remove.');
    }
    for (const path of report.removed) core.info(`Removed ${path}`);
    for (const path of report.alreadyGone) core.info(`Already gone: ${path}`);
    for (const { path, reason } of report.failed)
      core.warning(`Could not remove ${path} (${reason}); delete it by hand`);
  } catch (error) {
    core.warning(
      `Cleaning up secret files failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

await runPost();
