import { brokerUrlProblem, normalBrokerUrl } from '../client/broker-url.js';
import { parseOutputInputLines, type OutputLine } from '../client/output-lines.js';
import { parseFileDivider, parseFileMode } from '../client/file-entries.js';
import type { PrivateFileMode } from '../client/private-files.js';
import { InputError, parseListLines, parseSecretLines, type SecretLine } from '../client/secret-lines.js';
import type { RequestedEntry } from '../protocol/secret-names.js';
import { printable } from '../protocol/printable.js';
import { parseKeyBindingChoice, type KeyBindingChoice } from '../client/key-binding.js';
import { parseOutputTtl } from '../protocol/wire-shapes.js';

export { InputError, parseSecretLines, type SecretLine };

export type FileFormat = 'dotenv' | 'json';

export interface ActionInputs {
  /** As `normalBrokerUrl` writes it: the default audience too. */
  readonly brokerUrl: string;
  readonly audience: string;
  /** key-binding: bind each token to this step's key (auto and on: always; off: for an issuer with key_binding: off). */
  readonly keyBinding: KeyBindingChoice;
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
  /** file-divider: written between two sources of an ENV=@a+b or ENV=@PREFIX/* file. */
  readonly fileDivider: string;
  /** file-mode: of every file the step writes (ENV=@ files and the file input). */
  readonly fileMode: PrivateFileMode;
  readonly maskDerived: boolean;
  readonly timeoutSeconds: number;
  readonly retries: number;
  /** put-outputs: variables of this step's environment handed to later jobs of the run (read as run/NAME). */
  readonly putOutputs: readonly OutputLine[];
  /** put-outputs-ttl: how long those outputs live; the broker's default (6h) when undefined. */
  readonly putOutputsTtl: string | undefined;
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

/** An input checked by `check`, which says what is wrong with it. */
function checkedInput<T>(
  text: string,
  check: (text: string) => { readonly value: T } | { readonly problem: string },
): T {
  const checked = check(text);
  if ('problem' in checked) throw new InputError(checked.problem);
  return checked.value;
}

function brokerUrlInput(text: string): string {
  if (text === '')
    throw new InputError('the broker-url input is required (the https:// address of your secrets broker)');
  const problem = brokerUrlProblem(text);
  if (problem !== undefined) throw new InputError(`the broker-url input ${problem}`);
  return normalBrokerUrl(text);
}

/** put-outputs and put-outputs-ttl; with put-outputs, `secrets` may be empty (a step that only puts). */
function putOutputsInputs(getInput: (name: string) => string, listOnly: boolean) {
  const putOutputs = parseOutputInputLines(getInput('put-outputs'));
  const ttl = getInput('put-outputs-ttl').trim() || undefined;
  if (ttl !== undefined && putOutputs.length === 0)
    throw new InputError('put-outputs-ttl says how long put-outputs live, and put-outputs names no output');
  const seconds = ttl === undefined ? 0 : parseOutputTtl(ttl);
  if (typeof seconds === 'string') throw new InputError(`the put-outputs-ttl input "${ttl}": ${seconds}`);
  if (listOnly && putOutputs.length > 0)
    throw new InputError('list-only fetches and puts no value: put outputs in a step of its own');
  return {
    putOutputs,
    putOutputsTtl: ttl,
    putOnly: putOutputs.length > 0 && getInput('secrets').trim() === '',
  };
}

/** A step that only puts outputs fetches nothing, so it has nothing to run a command with or write. */
function checkPutOnly(run: string | undefined, file: string | undefined): void {
  if (run !== undefined || file !== undefined)
    throw new InputError(
      `the ${run === undefined ? 'file' : 'run'} input uses fetched secrets, and the secrets input is empty ` +
        '(this step only puts outputs): add entries to secrets, or remove it',
    );
}

function keyBindingInput(text: string): KeyBindingChoice {
  const choice = parseKeyBindingChoice(text);
  if (choice === undefined)
    throw new InputError(
      `the key-binding input must be auto, true or false, not "${printable(text.trim())}" (auto binds each token to this step's key; false only for an issuer with key_binding: off)`,
    );
  return choice;
}

export function parseInputs(getInput: (name: string) => string): ActionInputs {
  const brokerUrl = brokerUrlInput(getInput('broker-url').trim());
  const listOnly = booleanInput(getInput, 'list-only', false);
  const { putOutputs, putOutputsTtl, putOnly } = putOutputsInputs(getInput, listOnly);
  const lines = listOnly || putOnly ? [] : parseSecretLines(getInput('secrets'));
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
  if (putOnly) checkPutOnly(run, file);
  if (listOnly && (run !== undefined || file !== undefined)) {
    throw new InputError(
      `list-only fetches no value, so the ${run === undefined ? 'file' : 'run'} input has nothing to use: ` +
        'remove it, or run this action again without list-only in a later step',
    );
  }
  return {
    brokerUrl,
    audience: getInput('audience').trim() || brokerUrl,
    keyBinding: keyBindingInput(getInput('key-binding')),
    lines,
    listOnly,
    listEntries,
    run,
    exportEnv: booleanInput(getInput, 'export-env', true),
    file,
    fileFormat,
    fileDivider: checkedInput(getInput('file-divider'), parseFileDivider),
    fileMode: checkedInput(getInput('file-mode').trim(), parseFileMode),
    maskDerived: booleanInput(getInput, 'mask-derived', true),
    timeoutSeconds: integerInput(getInput, 'timeout-seconds', 30, 1, 600),
    retries: integerInput(getInput, 'retries', 3, 0, 10),
    putOutputs,
    putOutputsTtl,
  };
}
