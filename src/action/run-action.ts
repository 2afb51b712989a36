import { join, resolve } from 'node:path';
import * as core from '@actions/core';
import * as exec from '@actions/exec';
import { fetchSecrets, type ReleasedSecret } from '../client/exchange-client.js';
import { formatDotenv, formatJson } from '../client/formats.js';
import { removeAll } from './cleanup.js';
import { failureMessage, MissingIdTokenPermissionError } from './error-messages.js';
import { planExports, type ExportItem } from '../client/export-plan.js';
import { parseInputs, type ActionInputs } from './inputs.js';
import { maskForms } from './masking.js';
import { STATE_DIRECTORIES, STATE_FILES } from './state.js';
import { makePrivateDirectory, writePrivateFile } from '../client/private-files.js';

/** The main step: fetch, mask, then export (or run one command). On any failure it writes nothing. */
export async function runAction(): Promise<void> {
  try {
    const inputs = parseInputs((name) => core.getInput(name));
    if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL) throw new MissingIdTokenPermissionError();
    const released = await fetchSecrets({
      brokerUrl: inputs.brokerUrl,
      entries: inputs.lines.map((line) => line.entry.raw),
      getToken: () => core.getIDToken(inputs.audience),
      timeoutMs: inputs.timeoutSeconds * 1000,
      retries: inputs.retries,
      onRetry: ({ attempt, delayMs, reason }) =>
        core.info(
          `The broker did not answer (${reason}); retry ${attempt} of ${inputs.retries} in ${(delayMs / 1000).toFixed(1)} s.`,
        ),
    });
    // Before anything else is done with the values: register every form of every value with the runner.
    maskAll(released.secrets, inputs.maskDerived);
    const items = planExports(inputs.lines, released.secrets);
    core.info(
      `Released ${released.secrets.length} secret(s) (request id ${released.requestId}): ` +
        (items.map((item) => `${item.secretName} v${item.version} as ${item.envName}`).join(', ') || 'none'),
    );
    if (inputs.run !== undefined) await runCommand(inputs, items);
    else await exportAll(inputs, items, released.secrets);
    await writeSummary(items, inputs.run !== undefined);
  } catch (error) {
    core.setFailed(failureMessage(error));
  }
}

function maskAll(secrets: readonly ReleasedSecret[], derived: boolean): void {
  for (const secret of secrets) for (const form of maskForms(secret.value, derived)) core.setSecret(form);
}

/** ENV=@NAME values go to 0600 files in a fresh 0700 directory; returns each variable's final value. */
async function materialise(items: readonly ExportItem[]): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const fileItems = items.filter((item) => item.toFile);
  if (fileItems.length > 0) {
    const runnerTemp = process.env.RUNNER_TEMP;
    if (!runnerTemp)
      throw new Error('RUNNER_TEMP is not set, so ENV=@NAME has nowhere safe to write its file');
    const directory = await makePrivateDirectory(runnerTemp);
    const files = fileItems.map((item) => join(directory, item.envName));
    rememberForCleanup(files, [directory]);
    for (const [index, item] of fileItems.entries()) {
      await writePrivateFile(files[index] as string, item.value);
      values.set(item.envName, files[index] as string);
    }
  }
  for (const item of items) if (!item.toFile) values.set(item.envName, item.value);
  return values;
}

const planned = { files: [] as string[], directories: [] as string[] };

/** Saved before anything is written, so the post step removes files even if this step dies halfway. */
function rememberForCleanup(files: readonly string[], directories: readonly string[]): void {
  planned.files.push(...files);
  planned.directories.push(...directories);
  core.saveState(STATE_FILES, JSON.stringify(planned.files));
  core.saveState(STATE_DIRECTORIES, JSON.stringify(planned.directories));
}

async function exportAll(
  inputs: ActionInputs,
  items: readonly ExportItem[],
  secrets: readonly ReleasedSecret[],
): Promise<void> {
  if (inputs.exportEnv && !process.env.GITHUB_ENV) {
    throw new Error(
      'GITHUB_ENV is not set: this runner cannot receive environment variables (set export-env: false to use outputs only)',
    );
  }
  if (inputs.file !== undefined) {
    const path = resolve(process.env.GITHUB_WORKSPACE ?? '.', inputs.file);
    rememberForCleanup([path], []);
    const values = items
      .filter((item) => !item.toFile)
      .map((item) => ({ name: item.envName, value: item.value }));
    await writePrivateFile(path, inputs.fileFormat === 'json' ? formatJson(values) : formatDotenv(values));
    core.setOutput('file', path);
  }
  const values = await materialise(items);
  for (const [name, value] of values) {
    if (inputs.exportEnv) core.exportVariable(name, value);
    core.setOutput(name, value);
  }
  core.setOutput('names', JSON.stringify(secrets.map((secret) => secret.name)));
}

async function runCommand(inputs: ActionInputs, items: readonly ExportItem[]): Promise<void> {
  const values = await materialise(items);
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) environment[name] = value;
  for (const [name, value] of values) environment[name] = value;
  const exitCode = await exec.exec(
    'bash',
    ['--noprofile', '--norc', '-eo', 'pipefail', '-c', inputs.run as string],
    {
      env: environment,
      ignoreReturnCode: true,
    },
  );
  const cleanup = await removeAll(planned.files, planned.directories);
  for (const { path, reason } of cleanup.failed)
    core.warning(`Could not remove ${path} (${reason}); the post step tries again`);
  if (exitCode !== 0) {
    core.setFailed(`The run command exited with code ${exitCode}.`);
    process.exitCode = exitCode;
  }
}

async function writeSummary(items: readonly ExportItem[], ranCommand: boolean): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  const rows = items.map((item) => [
    item.secretName,
    item.toFile ? `${item.envName} (file path)` : item.envName,
    String(item.version),
  ]);
  await core.summary
    .addHeading('Secrets from the broker', 3)
    .addTable([
      [
        { data: 'Secret', header: true },
        { data: ranCommand ? 'Variable (run command only)' : 'Variable', header: true },
        { data: 'Version', header: true },
      ],
      ...rows,
    ])
    .write();
}
