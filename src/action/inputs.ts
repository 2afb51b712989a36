import { brokerUrlProblem, normalBrokerUrl } from '../client/broker-url.js';
import { InputError, parseListLines, parseSecretLines, type SecretLine } from '../client/secret-lines.js';
import type { RequestedEntry } from '../protocol/secret-names.js';

export { InputError, parseSecretLines, type SecretLine };

export type FileFormat = 'dotenv' | 'json';

export interface ActionInputs {
  /** As `normalBrokerUrl` writes it: the default audience too. */
  readonly brokerUrl: string;
  readonly audience: string;
  /** The entries to fetch; none with list-only. */
  readonly lines: readonly SecretLine[];
  /** list-only: ask which secrets this job may read (names and versions, no value); nothing is exported. */
  readonly listOnly: boolean;
  /** list-only: the names and patterns the list is narrowed to (none: everything). */
  readonly listEntries: readonly RequestedEntry[];
  readonly run: string | undefined;
  readonly exportEnv: boolean;
  readonly file: string | undefined;
  readonly fileFormat: FileFormat;
  readonly maskDerived: boolean;
  readonly timeoutSeconds: number;
  readonly retries: number;
}

function booleanInput(getInput: (name: string) => string, name: string, fallback: boolean): boolean {
  const text = getInput(name).trim().toLowerCase();
  if (text === '') return fallback;
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new InputError(`the ${name} input must be true or false, not "${text}"`);
}

function integerInput(
  getInput: (name: string) => string,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = getInput(name).trim();
  if (text === '') return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new InputError(`the ${name} input must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

function brokerUrlInput(text: string): string {
  if (text === '')
    throw new InputError('the broker-url input is required (the https:// address of your secrets broker)');
  const problem = brokerUrlProblem(text);
  if (problem !== undefined) throw new InputError(`the broker-url input ${problem}`);
  return normalBrokerUrl(text);
}

export function parseInputs(getInput: (name: string) => string): ActionInputs {
  const brokerUrl = brokerUrlInput(getInput('broker-url').trim());
  const listOnly = booleanInput(getInput, 'list-only', false);
  const lines = listOnly ? [] : parseSecretLines(getInput('secrets'));
  const listEntries = listOnly ? parseListLines(getInput('secrets')) : [];
  const fileFormat = getInput('file-format').trim() || 'dotenv';
  if (fileFormat !== 'dotenv' && fileFormat !== 'json') {
    throw new InputError(`the file-format input must be dotenv or json, not "${fileFormat}"`);
  }
  const run = getInput('run').trim() || undefined;
  const file = getInput('file').trim() || undefined;
  if (run !== undefined && file !== undefined) {
    throw new InputError("use either run (secrets only in that command's environment) or file, not both");
  }
  if (listOnly && (run !== undefined || file !== undefined)) {
    throw new InputError(
      `list-only fetches no value, so the ${run === undefined ? 'file' : 'run'} input has nothing to use: ` +
        'remove it, or run this action again without list-only in a later step',
    );
  }
  return {
    brokerUrl,
    audience: getInput('audience').trim() || brokerUrl,
    lines,
    listOnly,
    listEntries,
    run,
    exportEnv: booleanInput(getInput, 'export-env', true),
    file,
    fileFormat,
    maskDerived: booleanInput(getInput, 'mask-derived', true),
    timeoutSeconds: integerInput(getInput, 'timeout-seconds', 30, 1, 600),
    retries: integerInput(getInput, 'retries', 3, 0, 10),
  };
}
