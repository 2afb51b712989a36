import { CodedError } from '../protocol/coded-error.js';
import { compileGlob } from '../protocol/glob.js';
import { printable } from '../protocol/printable.js';
import type { ReleasedSecret } from './exchange-client.js';
import { deriveEnvName, envNameProblem } from './env-names.js';
import type { SecretLine } from './secret-lines.js';

export interface ExportItem {
  readonly secretName: string;
  readonly version: number;
  readonly envName: string;
  /** ENV=@NAME: the variable holds the path of a 0600 file with the value. */
  readonly toFile: boolean;
  readonly value: string;
}

export class ExportPlanError extends CodedError {
  readonly code: string = 'export_refused';
  override name = 'ExportPlanError';
}

/**
 * Maps released secrets to variable names, line by line: ENV= names as written, the others derived from the
 * secret name. A secret named on a line of its own is left out of every pattern, so `MY_NAME=prod/shared/X`
 * renames one match of `prod/shared/*`. Two different secrets under one variable name is an error that names
 * both.
 */
export function planExports(lines: readonly SecretLine[], released: readonly ReleasedSecret[]): ExportItem[] {
  const items: ExportItem[] = [];
  const byEnvName = new Map<string, ExportItem>();
  const problems: string[] = [];
  const add = (secret: ReleasedSecret, line: SecretLine): void => {
    const envName = line.envName ?? deriveEnvName(secret.name);
    // ENV= names were checked when the line was read.
    const problem =
      line.envName === undefined
        ? envNameProblem(
            envName,
            secret.name,
            line.entry.isPattern ? line.entry.raw : undefined,
            line.ownEntry,
          )
        : undefined;
    if (problem !== undefined) {
      problems.push(`secret "${printable(secret.name)}" (${line.where}): ${problem}`);
      return;
    }
    const existing = byEnvName.get(envName);
    if (existing !== undefined) {
      if (existing.secretName !== secret.name || existing.toFile !== line.toFile) {
        problems.push(
          `"${printable(existing.secretName)}" and "${printable(secret.name)}" would both be ${envName}; give one another name with ENV=NAME ${line.ownEntry}`,
        );
      }
      return;
    }
    const item = {
      secretName: secret.name,
      version: secret.version,
      envName,
      toFile: line.toFile,
      value: secret.value,
    };
    byEnvName.set(envName, item);
    items.push(item);
  };
  const namedOnTheirOwnLine = new Set(
    lines.filter((line) => !line.entry.isPattern).map((line) => line.entry.target),
  );
  for (const line of lines) {
    if (line.entry.isPattern) {
      const pattern = compileGlob(line.entry.target);
      for (const secret of released)
        if (!namedOnTheirOwnLine.has(secret.name) && pattern.test(secret.name)) add(secret, line);
    } else {
      const secret = released.find((candidate) => candidate.name === line.entry.target);
      if (secret !== undefined) add(secret, line);
    }
  }
  if (problems.length > 0) throw new ExportPlanError(problems.join('\n'));
  return items;
}
