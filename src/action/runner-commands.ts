/**
 * What the action says to the GitHub runner, in the runner's documented formats (as @actions/core writes them,
 * without its HTTP client): inputs and state from the environment, workflow commands on stdout, and file
 * commands (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE) as `name<<delimiter` blocks.
 */
import { randomUUID } from 'node:crypto';
import { constants, appendFileSync, existsSync } from 'node:fs';
import { access, appendFile } from 'node:fs/promises';
import { EOL } from 'node:os';

/** An input as the runner passes it: INPUT_<name with spaces as _, upper-cased>, trimmed; '' when not set. */
export function getInput(name: string, environment: NodeJS.ProcessEnv = process.env): string {
  return (environment[`INPUT_${name.replaceAll(' ', '_').toUpperCase()}`] ?? '').trim();
}

/** What the main step saved under `name` (the runner passes it to the post step as STATE_<name>). */
export function getState(name: string, environment: NodeJS.ProcessEnv = process.env): string {
  return environment[`STATE_${name}`] ?? '';
}

/** A workflow command's data: the runner reads one line, and decodes %25, %0D and %0A. */
export function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function commandLine(command: string, message: string): string {
  return `::${command}::${escapeData(message)}${EOL}`;
}

function issue(command: string, message: string): void {
  process.stdout.write(commandLine(command, message));
}

export function info(message: string): void {
  process.stdout.write(`${message}${EOL}`);
}

export function warning(message: string): void {
  issue('warning', message);
}

/** Marks the step failed (exit code 1) with an error annotation. */
export function setFailed(message: string): void {
  process.exitCode = 1;
  issue('error', message);
}

/** Tells the runner to mask `value` in the log from now on. */
export function setSecret(value: string): void {
  setSecrets([value]);
}

/** Tells the runner to mask each of `values`: one write of one `add-mask` line each, in order. */
export function setSecrets(values: readonly string[]): void {
  if (values.length === 0) return;
  process.stdout.write(values.map((value) => commandLine('add-mask', value)).join(''));
}

/**
 * One file-command entry: `name<<delimiter`, the value, the delimiter, each on its own line. The delimiter is
 * random per entry and must occur in neither the name nor the value, or the runner would end the value early.
 */
export function keyValueEntry(
  name: string,
  value: string,
  delimiter = `ghadelimiter_${randomUUID()}`,
): string {
  // A name with "=", "<<" or a line break would make the runner read the value's lines as entries of their own.
  if (name === '' || /[=\r\n]|<</.test(name) || name.includes(delimiter))
    throw new Error(`${JSON.stringify(name)} cannot be a file-command name`);
  if (value.includes(delimiter)) throw new Error(`the value of ${name} holds the file-command delimiter`);
  return `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`;
}

type FileCommand = 'GITHUB_ENV' | 'GITHUB_OUTPUT' | 'GITHUB_STATE';

/** Appends the entries to the runner's file for `command`, in one write. */
function appendFileCommand(command: FileCommand, entries: readonly (readonly [string, string])[]): void {
  if (entries.length === 0) return;
  const path = process.env[command];
  const names = entries.map(([name]) => name).join(', ');
  // The runners this action supports all have file commands; the old stdout commands are disabled.
  if (!path) throw new Error(`${command} is not set, so this runner cannot receive ${names}`);
  if (!existsSync(path)) throw new Error(`${command} names a file that does not exist: ${path}`);
  const text = entries.map(([name, value]) => keyValueEntry(name, value)).join('');
  appendFileSync(path, text, { encoding: 'utf8' });
}

/** Sets an environment variable for the job's later steps. */
export function exportVariable(name: string, value: string): void {
  exportVariables([[name, value]]);
}

/** Sets environment variables for the job's later steps, in one write. */
export function exportVariables(entries: readonly (readonly [string, string])[]): void {
  appendFileCommand('GITHUB_ENV', entries);
}

export function setOutput(name: string, value: string): void {
  setOutputs([[name, value]]);
}

/** Sets step outputs, in one write. */
export function setOutputs(entries: readonly (readonly [string, string])[]): void {
  appendFileCommand('GITHUB_OUTPUT', entries);
}

/** Saves a value for this action's post step. */
export function saveState(name: string, value: string): void {
  appendFileCommand('GITHUB_STATE', [[name, value]]);
}

export interface SummaryCell {
  readonly data: string;
  readonly header?: boolean;
}

/** A heading and a table in the job summary's HTML, as @actions/core's summary builder writes them. Cells are HTML. */
export function summaryTable(heading: string, rows: readonly (readonly SummaryCell[])[]): string {
  const body = rows
    .map(
      (row) =>
        `<tr>${row.map(({ data, header }) => (header === true ? `<th>${data}</th>` : `<td>${data}</td>`)).join('')}</tr>`,
    )
    .join('');
  return `<h3>${heading}</h3>${EOL}<table>${body}</table>${EOL}`;
}

/** Appends to the job summary file (GITHUB_STEP_SUMMARY), which must exist and be readable and writable. */
export async function appendStepSummary(html: string): Promise<void> {
  const path = process.env.GITHUB_STEP_SUMMARY;
  if (!path) throw new Error('GITHUB_STEP_SUMMARY is not set');
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch {
    throw new Error(`cannot write the summary file ${path}`);
  }
  await appendFile(path, html, { encoding: 'utf8' });
}
