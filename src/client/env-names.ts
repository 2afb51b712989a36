/** Contract: the env name of "prod/api/db-password" is DB_PASSWORD (last segment, upper-cased, other characters to "_"). */
export function deriveEnvName(secretName: string): string {
  const last = secretName.slice(secretName.lastIndexOf('/') + 1);
  const name = last.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  // A shell variable cannot start with a digit.
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names that would let a secret take over later steps or the runner itself. */
const RESERVED_PREFIXES = ['GITHUB_', 'RUNNER_', 'ACTIONS_', 'INPUT_', 'STATE_'];
const RESERVED_NAMES = new Set([
  'PATH',
  'NODE_OPTIONS',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'BASH_ENV',
  'ENV',
  'HOME',
  'SHELL',
  'CI',
]);

/** Why `name` cannot be an exported variable, or undefined when it can. */
export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name))
    return `"${name}" is not a valid environment variable name (letters, digits and "_", not starting with a digit)`;
  const upper = name.toUpperCase();
  if (RESERVED_NAMES.has(upper) || RESERVED_PREFIXES.some((prefix) => upper.startsWith(prefix))) {
    return `"${name}" is reserved (it would change how later steps or the runner behave); choose another name with ENV=NAME`;
  }
  return undefined;
}
