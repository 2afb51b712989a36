import { printable } from '../protocol/printable.js';
import * as core from './runner-commands.js';
import { removeCreated, reportCleanup } from './cleanup.js';
import { decodeCreated, STATE_CREATED } from './state.js';

/** The post step: removes every file the main step created, and only those. It never fails the job. */
export async function runPost(): Promise<void> {
  try {
    const report = await removeCreated(decodeCreated(core.getState(STATE_CREATED)));
    const outcomes = report.removed.length + report.alreadyGone.length;
    if (outcomes + report.leftAlone.length + report.failed.length === 0)
      core.info('No secret files to remove.');
    reportCleanup(report, 'delete it by hand');
  } catch (error) {
    core.warning(
      `Cleaning up secret files failed: ${printable(error instanceof Error ? error.message : String(error))}`,
    );
  }
}

await runPost();
