import { printable } from '../protocol/printable.js';
import { REFUSED_ENV_NAMES, type RefusedEnvGroup } from './refused-env-names.js';

export { REFUSED_ENV_NAMES, type RefusedEnvGroup, type RefusalTier } from './refused-env-names.js';

/** Contract: the env name of "prod/api/db-password" is DB_PASSWORD (last segment, upper-cased, other characters to "_"). */
export function deriveEnvName(secretName: string): string {
  const last = secretName.slice(secretName.lastIndexOf('/') + 1);
  const name = last.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  // A shell variable cannot start with a digit.
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An `except` entry: a name, or a name with one `*` that stands for any run of characters. */
function excepted(upper: string, entry: string): boolean {
  const star = entry.indexOf('*');
  if (star === -1) return upper === entry;
  const head = entry.slice(0, star);
  const tail = entry.slice(star + 1);
  return upper.length >= head.length + tail.length && upper.startsWith(head) && upper.endsWith(tail);
}

interface Refusal {
  readonly group: RefusedEnvGroup;
  /** The prefix that caught the name; undefined for an exact name. */
  readonly prefix: string | undefined;
}

function refusalBy(group: RefusedEnvGroup, upper: string): Refusal | undefined {
  if (group.names.includes(upper)) return { group, prefix: undefined };
  const prefix = group.prefixes.find((candidate) => upper.startsWith(candidate));
  if (prefix === undefined || (group.except ?? []).some((entry) => excepted(upper, entry))) return undefined;
  return { group, prefix };
}

/** The group that refuses `upper`, strictest tier first; groups of the `derived` tier only for derived names. */
function refusal(upper: string, derived: boolean): Refusal | undefined {
  const tiers = derived ? (['always', 'derived'] as const) : (['always'] as const);
  for (const tier of tiers) {
    for (const group of REFUSED_ENV_NAMES) {
      if (group.tier !== tier) continue;
      const found = refusalBy(group, upper);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Last words of a variable name that carries a credential: what a pattern may export without it being named. */
const CREDENTIAL_WORDS = [
  ...['TOKEN', 'TOKENS', 'PASSWORD', 'PASSWORDS', 'PASSWD', 'PASS', 'PASSPHRASE', 'PWD', 'SECRET', 'SECRETS'],
  ...['KEY', 'KEYS', 'APIKEY', 'PAT', 'CREDENTIAL', 'CREDENTIALS', 'CREDS', 'CERT', 'CERTIFICATE', 'PEM'],
  ...['WEBHOOK', 'DSN', 'AUTH', 'SALT', 'ID', 'USER', 'USERNAME', 'LOGIN', 'EMAIL'],
];

/** A name whose last word (or whole name) says it holds a credential: PASSWORD, DB_PASSWORD, SLACK_WEBHOOK. */
function looksLikeCredential(upper: string): boolean {
  const last = upper.slice(upper.lastIndexOf('_') + 1);
  // The whole name PWD is the shell's working directory, not a password.
  return upper !== 'PWD' && CREDENTIAL_WORDS.includes(last);
}

/**
 * Why `name` cannot be an exported variable, or undefined when it can. Without `derivedFrom`, the name is one
 * the workflow wrote (`ENV=NAME`): only the `always` tier applies. With `derivedFrom` (the stored secret's name
 * it was derived from), both tiers apply, and the hint shows the line that exports that secret under a name of
 * the workflow's choosing. With `fromPattern` too (the name came through a pattern, so whoever stores secrets
 * under it chose the name), the name must also look like a credential.
 */
export function envNameProblem(
  name: string,
  derivedFrom?: string,
  fromPattern?: string,
  ownEntry = 'on its own line',
): string | undefined {
  if (!ENV_NAME.test(name))
    return `"${printable(name)}" is not a valid environment variable name (letters, digits and "_", not starting with a digit)`;
  const upper = name.toUpperCase();
  const refused = refusal(upper, derivedFrom !== undefined);
  if (refused === undefined) {
    if (fromPattern === undefined || looksLikeCredential(upper)) return undefined;
    const secret = printable(derivedFrom ?? '');
    return (
      `"${name}" comes from the pattern ${printable(fromPattern)}, and through a pattern only names shaped like a ` +
      `credential are exported (ending in ${CREDENTIAL_WORDS.slice(0, 8)
        .map((word) => `_${word}`)
        .join(', ')}, ...): ` +
      'whoever may store a secret under the pattern chooses the name, and build tools run what some variables hold; ' +
      `write ${upper}=${secret} ${ownEntry} to export it under this name`
    );
  }
  const which = refused.prefix === undefined ? '' : ` (as is every name starting with ${refused.prefix})`;
  const mine = `MY_${upper}`;
  if (refused.group.tier === 'derived') {
    const secret = printable(derivedFrom ?? '');
    return (
      `"${name}" is exported only when the workflow names it${which}: ${refused.group.reason}; ` +
      `write ${upper}=${secret} (or ${upper}=@${secret} for a file) ${ownEntry} to export it under this ` +
      `name, or give it another: ${mine}=${secret}`
    );
  }
  const rename =
    derivedFrom === undefined
      ? `choose another name, for example ${mine}`
      : `give it another name ${ownEntry}: ${mine}=${printable(derivedFrom)}`;
  const oneStep = `set ${upper} only in the env: of the one step that needs it (${upper}: \${{ env.${mine} }})`;
  return `"${name}" is refused${which}: ${refused.group.reason}; ${rename}, and ${oneStep}`;
}
