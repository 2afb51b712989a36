import { brokerUrlProblem, normalBrokerUrl } from '../client/broker-url.js';
import { InputError, parseSecretLines, type SecretLine } from '../client/secret-lines.js';

export { InputError, parseSecretLines, type SecretLine };

export type FileFormat = 'dotenv' | 'json';

export interface ActionInputs {
  /** As `normalBrokerUrl` writes it: the default audience too. */
  readonly brokerUrl: string;
  readonly audience: string;
  readonly lines: readonly SecretLine[];
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
  const lines = parseSecretLines(getInput('secrets'));
  const fileFormat = getInput('file-format').trim() || 'dotenv';
  if (fileFormat !== 'dotenv' && fileFormat !== 'json') {
    throw new InputError(`the file-format input must be dotenv or json, not "${fileFormat}"`);
  }
  const run = getInput('run').trim() || undefined;
  const file = getInput('file').trim() || undefined;
  if (run !== undefined && file !== undefined) {
    throw new InputError("use either run (secrets only in that command's environment) or file, not both");
  }
  return {
    brokerUrl,
    audience: getInput('audience').trim() || brokerUrl,
    lines,
    run,
    exportEnv: booleanInput(getInput, 'export-env', true),
    file,
    fileFormat,
    maskDerived: booleanInput(getInput, 'mask-derived', true),
    timeoutSeconds: integerInput(getInput, 'timeout-seconds', 30, 1, 600),
    retries: integerInput(getInput, 'retries', 3, 0, 10),
  };
}
