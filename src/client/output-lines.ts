import { printable } from '../protocol/printable.js';
import { secretNameProblem } from '../protocol/secret-names.js';
import {
  MAX_OUTPUT_VALUE_BYTES,
  MAX_OUTPUTS_PER_REQUEST,
  RUN_OUTPUT_PREFIX,
  type OutputPayload,
} from '../protocol/wire-shapes.js';
import { ENV_NAME } from './env-names.js';
import { InputError } from './secret-lines.js';

/**
 * One output to put for this run (a line of the action's `put-outputs`, a --output of `secrets-fetch put`):
 * `NAME` reads the variable NAME of the step's environment, `NAME=ENV_VAR` the variable ENV_VAR. Later jobs of
 * the run read it back as the entry `run/NAME`.
 */
export interface OutputLine {
  /** Where it was written, in the words of its client: "put-outputs line 3", "--output #3". */
  readonly where: string;
  /** The output's name, without `run/`. */
  readonly name: string;
  /** The environment variable its value is read from. */
  readonly envVar: string;
}

/** The action's `put-outputs` input: one `NAME` or `NAME=ENV_VAR` a line; blank lines and `#` comments skipped. */
export function parseOutputInputLines(text: string): OutputLine[] {
  const written: [string, string][] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) written.push([`put-outputs line ${index + 1}`, line]);
  });
  return parseOutputs(written);
}

/** secrets-fetch put's --output flags, in the order given; at least one. */
export function parseOutputFlags(flags: readonly string[]): OutputLine[] {
  if (flags.length === 0)
    throw new InputError(
      'no --output given: pass --output NAME (or NAME=ENV_VAR) once for each value to hand to later jobs',
    );
  return parseOutputs(flags.map((flag, index) => [`--output #${index + 1}`, flag.trim()]));
}

/** Each [where, text] parsed; every bad one is reported at once, then the count and the repeated names. */
function parseOutputs(written: readonly (readonly [string, string])[]): OutputLine[] {
  const lines: OutputLine[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const [where, text] of written) {
    const parsed = parseOutputLine(text);
    if (typeof parsed === 'string') {
      problems.push(`${where} ("${printable(text)}"): ${parsed}`);
      continue;
    }
    const earlier = seen.get(parsed.name);
    if (earlier !== undefined) {
      problems.push(`${where}: the output "${parsed.name}" is already put by ${earlier}; put each name once`);
      continue;
    }
    seen.set(parsed.name, where);
    lines.push({ where, ...parsed });
  }
  if (problems.length === 0 && lines.length > MAX_OUTPUTS_PER_REQUEST)
    problems.push(
      `${lines.length} outputs are named; one put takes at most ${MAX_OUTPUTS_PER_REQUEST} (split them over two steps)`,
    );
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return lines;
}

/** `NAME` or `NAME=ENV_VAR` as a name and a variable, or why it is neither. */
function parseOutputLine(text: string): { name: string; envVar: string } | string {
  if (text === '') return 'is empty: give NAME or NAME=ENV_VAR';
  const equals = text.indexOf('=');
  const name = equals === -1 ? text : text.slice(0, equals).trim();
  const envVar = equals === -1 ? text : text.slice(equals + 1).trim();
  if (name.startsWith(RUN_OUTPUT_PREFIX))
    return `write the name without "${RUN_OUTPUT_PREFIX}": the output ${printable(name.slice(RUN_OUTPUT_PREFIX.length))} is read back as ${printable(name)}`;
  const nameProblem = secretNameProblem(name);
  if (nameProblem !== undefined)
    return `${printable(nameProblem)} (an output's name follows the secret-name rules)`;
  if (!ENV_NAME.test(envVar)) {
    return equals === -1
      ? `NAME alone reads the variable of that name, and "${printable(name)}" cannot be a variable name: write ${printable(name)}=ENV_VAR`
      : `"${printable(envVar)}" is not a variable name (letters, digits and "_", not starting with a digit)`;
  }
  return { name, envVar };
}

/**
 * The value of each output, from `environment`: every variable that is unset or empty, or a value too large, is
 * reported at once (by name, never by value). `unsetHint` says how to set a variable in the caller's terms.
 */
export function readOutputValues(
  lines: readonly OutputLine[],
  environment: Readonly<Record<string, string | undefined>>,
  unsetHint: string,
): OutputPayload[] {
  const problems: string[] = [];
  const values = lines.map((line) => {
    const value = environment[line.envVar];
    const subject = `${line.where}: the output "${line.name}" reads the variable ${line.envVar}, which`;
    if (value === undefined) problems.push(`${subject} is not set (${unsetHint})`);
    else if (value === '') problems.push(`${subject} is empty; an output needs a value`);
    else if (Buffer.byteLength(value, 'utf8') > MAX_OUTPUT_VALUE_BYTES)
      problems.push(
        `${subject} holds ${Buffer.byteLength(value, 'utf8')} bytes; an output holds at most ${MAX_OUTPUT_VALUE_BYTES}`,
      );
    return { name: line.name, value: value ?? '' };
  });
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return values;
}
