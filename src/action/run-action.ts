import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { brokerInfoOnce, type BrokerCallOptions } from '../client/broker-calls.js';
import { fetchSecrets, type ReleasedSecret } from '../client/exchange-client.js';
import { githubRunnerTokens } from '../client/token-sources.js';
import {
  fallbackNotes,
  fallbackReason,
  itemSecrets,
  planExports,
  type ExportItem,
} from '../client/export-plan.js';
import { listSecrets } from '../client/list-client.js';
import { putOutputs } from '../client/output-client.js';
import { readOutputValues } from '../client/output-lines.js';
import { formatDotenv, formatJson } from '../client/formats.js';
import { checkPathFree, type PrivateFileMode } from '../client/private-files.js';
import { requestedEntries } from '../client/secret-lines.js';
import { printable } from '../protocol/printable.js';
import type { OutputPayload } from '../protocol/wire-shapes.js';
import { reportCleanup } from './cleanup.js';
import { CreatedFiles } from './created-files.js';
import { failureMessage, MissingIdTokenPermissionError } from './error-messages.js';
import { fileCommandCheckpoint, restoreFileCommands } from './file-commands.js';
import { parseInputs, type ActionInputs, type FileFormat } from './inputs.js';
import { joinedMaskForms, maskForms } from './masking.js';
import * as core from './runner-commands.js';
import { STATE_CREATED } from './state.js';

/** Where this step will write, each checked before a token is spent. */
interface Destinations {
  /** For ENV=@NAME files: an existing directory. */
  readonly runnerTemp: string | undefined;
  /** The `file` input, resolved: nothing exists there yet, and no directory on the way is a link. */
  readonly file: string | undefined;
  /** GITHUB_WORKSPACE (or the current directory): the `file` path is checked from here down. */
  readonly workspace: string;
}

/**
 * The main step: check every destination, fetch, mask, plan every name, then write (or run one command). A
 * failure before writing writes nothing; a failure while writing takes back what this step wrote.
 */
export async function runAction(): Promise<void> {
  try {
    const inputs = parseInputs((name) => core.getInput(name));
    const outputs = readOutputValues(
      inputs.putOutputs,
      process.env,
      'write it to GITHUB_ENV in an earlier step, after masking it there with ::add-mask::',
    );
    // Before anything else is done with them: every form of every value to put is masked.
    maskValues(
      outputs.map((output) => output.value),
      inputs.maskDerived,
    );
    const requestUrl = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    if (!requestUrl) throw new MissingIdTokenPermissionError();
    const tokens = githubRunnerTokens(
      requestUrl,
      process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '',
      inputs.audience,
    );
    const call: BrokerCallOptions = {
      brokerUrl: inputs.brokerUrl,
      // Masked as soon as it arrives. The client bounds the wait by the time the step has left; the request
      // itself by its own cap, and index.ts ends the process so a request given up on holds nothing open.
      getToken: async (_remainingMs, bindTo) => {
        const token = await tokens.next(undefined, bindTo);
        core.setSecret(token);
        return token;
      },
      keyBinding: inputs.keyBinding,
      bindableTokens: tokens.description,
      brokerInfo: brokerInfoOnce(inputs.brokerUrl),
      timeoutMs: inputs.timeoutSeconds * 1000,
      retries: inputs.retries,
      onRetry: ({ attempt, delayMs, reason }) =>
        core.info(
          `The broker did not answer (${printable(reason)}); retry ${attempt} of ${inputs.retries} in ${(delayMs / 1000).toFixed(1)} s.`,
        ),
    };
    if (inputs.listOnly) {
      await listOnly(inputs, call);
      return;
    }
    const putOnly = inputs.lines.length === 0;
    const destinations = putOnly ? undefined : await checkDestinations(inputs);
    if (outputs.length > 0) await putAll(call, outputs, inputs.putOutputsTtl);
    if (destinations === undefined) return;
    const released = await fetchSecrets({ ...call, entries: requestedEntries(inputs.lines) });
    // Before anything else is done with the values: register every form of every value with the runner.
    maskValues(
      released.secrets.map((secret) => secret.value),
      inputs.maskDerived,
    );
    const items = planExports(inputs.lines, released.secrets, inputs.fileDivider);
    // A file joining several values: the whole of it too, before it is written or anything is logged.
    core.setSecrets(
      items.flatMap((item) =>
        item.sources.length > 1 ? joinedMaskForms(item.value, inputs.fileDivider, inputs.maskDerived) : [],
      ),
    );
    core.info(
      `Released ${released.secrets.length} secret(s) (request id ${printable(released.requestId)}): ` +
        (items.map((item) => `${itemSecrets(item)} as ${item.envName}`).join(', ') || 'none'),
    );
    for (const note of fallbackNotes(items)) core.info(note);
    if (inputs.run !== undefined) await runCommand(inputs.run, items, destinations, inputs.fileMode);
    else await exportAll(inputs, items, released.secrets, destinations);
    await writeSummary(items, inputs.run !== undefined);
  } catch (error) {
    core.setFailed(failureMessage(error));
  }
}

/**
 * list-only: which secrets this job may read, as the `names` and `versions` outputs; no value is fetched, and
 * nothing is exported or written but the outputs.
 */
async function listOnly(inputs: ActionInputs, call: BrokerCallOptions): Promise<void> {
  if (!process.env.GITHUB_OUTPUT)
    throw new Error('GITHUB_OUTPUT is not set: this runner cannot receive the names output of list-only');
  const listed = await listSecrets({ ...call, entries: inputs.listEntries.map((entry) => entry.raw) });
  core.info(
    `This job may read ${listed.length} stored secret(s): ` +
      (listed.map((secret) => `${printable(secret.name)} v${secret.version}`).join(', ') || 'none'),
  );
  core.setOutputs([
    ['names', JSON.stringify(listed.map((secret) => secret.name))],
    ['versions', JSON.stringify(Object.fromEntries(listed.map((secret) => [secret.name, secret.version])))],
  ]);
}

async function checkDestinations(inputs: ActionInputs): Promise<Destinations> {
  let runnerTemp: string | undefined;
  if (inputs.lines.some((line) => line.toFile)) {
    runnerTemp = process.env.RUNNER_TEMP;
    if (!runnerTemp)
      throw new Error('RUNNER_TEMP is not set, so ENV=@NAME has nowhere safe to write its file');
    if ((await stat(runnerTemp).catch(() => undefined))?.isDirectory() !== true)
      throw new Error(
        `RUNNER_TEMP (${printable(runnerTemp)}) is not a directory, so ENV=@NAME cannot write there`,
      );
  }
  if (inputs.run === undefined && inputs.exportEnv && !process.env.GITHUB_ENV) {
    throw new Error(
      'GITHUB_ENV is not set: this runner cannot receive environment variables (set export-env: false to use outputs only)',
    );
  }
  const workspace = resolve(process.env.GITHUB_WORKSPACE || '.');
  let file: string | undefined;
  if (inputs.run === undefined && inputs.file !== undefined) {
    file = resolve(workspace, inputs.file);
    await checkPathFree(file, workspace);
  }
  return { runnerTemp, file, workspace };
}

function maskValues(values: readonly string[], derived: boolean): void {
  core.setSecrets(values.flatMap((value) => maskForms(value, derived)));
}

/** put-outputs: the values sealed to the broker's run-output key and put for the later jobs of this run. */
async function putAll(
  call: BrokerCallOptions,
  outputs: readonly OutputPayload[],
  ttl: string | undefined,
): Promise<void> {
  const put = await putOutputs({ ...call, outputs, ...(ttl === undefined ? {} : { ttl }) });
  core.info(
    `Put ${put.outputs.length} output(s) for later jobs of this run (request id ${printable(put.requestId)}, ` +
      `run-output key ${printable(put.keyId)}): ` +
      put.outputs
        .map((output) => `${printable(output.name)} until ${printable(output.expires_at)}`)
        .join(', ') +
      `. Later jobs read them with the secrets entries ${put.outputs.map((output) => `run/${printable(output.name)}`).join(', ')}.`,
  );
}

function newCreatedFiles(): CreatedFiles {
  return new CreatedFiles((encoded) => core.saveState(STATE_CREATED, encoded));
}

/**
 * ENV=@... values go to files of `mode` (0600 by default) in a fresh 0700 directory (0710 for 0640); returns
 * each variable's final value.
 */
async function materialise(
  items: readonly ExportItem[],
  runnerTemp: string | undefined,
  created: CreatedFiles,
  mode: PrivateFileMode,
): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const fileItems = items.filter((item) => item.toFile);
  if (fileItems.length > 0) {
    if (runnerTemp === undefined) throw new Error('RUNNER_TEMP is not set');
    const directory = await created.makeDirectory(runnerTemp, mode);
    for (const item of fileItems) {
      // A plain name (checked when the line was read), in the directory this step just made, new: nothing
      // below it to check.
      const path = join(directory, item.fileName ?? item.envName);
      await created.writeFile(path, item.value, directory, mode);
      values.set(item.envName, path);
    }
  }
  for (const item of items) if (!item.toFile) values.set(item.envName, item.value);
  return values;
}

/** The `file` input's content: every value that is not an ENV=@NAME file. */
function renderFile(format: FileFormat, items: readonly ExportItem[]): string {
  const values = items
    .filter((item) => !item.toFile)
    .map((item) => ({ name: item.envName, value: item.value, secretName: item.secretName }));
  return format === 'json' ? formatJson(values) : formatDotenv(values);
}

async function exportAll(
  inputs: ActionInputs,
  items: readonly ExportItem[],
  secrets: readonly ReleasedSecret[],
  destinations: Destinations,
): Promise<void> {
  // Rendered before anything is written, so a value the format refuses leaves nothing behind.
  const secretsFile =
    destinations.file === undefined
      ? undefined
      : { path: destinations.file, text: renderFile(inputs.fileFormat, items) };
  const created = newCreatedFiles();
  const checkpoint = await fileCommandCheckpoint();
  try {
    const values = await materialise(items, destinations.runnerTemp, created, inputs.fileMode);
    if (secretsFile !== undefined)
      await created.writeFile(secretsFile.path, secretsFile.text, destinations.workspace, inputs.fileMode);
    // One write per file: the runner reads each file once the step has ended.
    if (inputs.exportEnv) core.exportVariables([...values]);
    core.setOutputs([
      ...values,
      ...(secretsFile === undefined ? [] : [['file', secretsFile.path] as const]),
      ['names', JSON.stringify([...new Set(secrets.map((secret) => secret.name))])],
    ]);
  } catch (error) {
    for (const path of await restoreFileCommands(checkpoint))
      core.warning(`Could not take back what this step wrote to ${printable(path)}`);
    reportCleanup(await created.removeAll(), 'the post step tries again');
    throw error;
  }
}

async function runCommand(
  command: string,
  items: readonly ExportItem[],
  destinations: Destinations,
  fileMode: PrivateFileMode,
): Promise<void> {
  const created = newCreatedFiles();
  let exitCode: number;
  try {
    const values = await materialise(items, destinations.runnerTemp, created, fileMode);
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env))
      if (value !== undefined) environment[name] = value;
    for (const [name, value] of values) environment[name] = value;
    exitCode = await runBash(command, environment);
  } finally {
    reportCleanup(await created.removeAll(), 'the post step tries again');
  }
  if (exitCode !== 0) {
    core.setFailed(`The run command exited with code ${exitCode}.`);
    process.exitCode = exitCode;
  }
}

/**
 * Runs the step's `run` command as GitHub runs a `shell: bash` step, its output going straight to the step's log
 * (where the runner masks the values). node:child_process is loaded only here: most runs never need it.
 */
function runBash(command: string, environment: Record<string, string>): Promise<number> {
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', command], {
      env: environment,
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 1 : (process.getBuiltinModule('node:os').constants.signals[signal] ?? 1);
}

const HTML_SPECIAL: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** A table cell's text: the summary is HTML, and secret names come from the broker. */
function cell(text: string): string {
  return printable(text).replace(/[&<>"']/g, (character) => HTML_SPECIAL[character] as string);
}

/** The job summary; the secrets are delivered by now, so a summary that cannot be written is only a warning. */
async function writeSummary(items: readonly ExportItem[], ranCommand: boolean): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  const withAlternatives = items.some((item) => item.fallback !== undefined);
  const rows = items.map((item) => [
    item.sources.length > 1
      ? item.sources.map((source) => cell(source.name)).join(' + ')
      : cell(item.secretName),
    item.toFile ? `${item.envName} (file path)` : item.envName,
    item.sources.length > 1
      ? item.sources.map((source) => String(source.version)).join(' + ')
      : String(item.version),
    ...(withAlternatives ? [item.fallback === undefined ? '' : cell(fallbackReason(item.fallback))] : []),
  ]);
  try {
    await core.appendStepSummary(
      core.summaryTable('Secrets from the broker', [
        [
          { data: 'Secret', header: true },
          { data: ranCommand ? 'Variable (run command only)' : 'Variable', header: true },
          { data: 'Version', header: true },
          ...(withAlternatives ? [{ data: 'Alternative used', header: true }] : []),
        ],
        ...rows.map((row) => row.map((data) => ({ data }))),
      ]),
    );
  } catch (error) {
    core.warning(
      `Could not write the job summary: ${printable(error instanceof Error ? error.message : String(error))}`,
    );
  }
}
