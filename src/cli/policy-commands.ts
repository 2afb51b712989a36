import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import { explainDecision } from '../broker/policy/explain.js';
import { lintPolicy } from '../broker/policy/lint.js';
import { loadPolicyFile, parsePolicy, PolicyError } from '../broker/policy/load-policy.js';
import { pinPolicy, restLookup } from '../broker/policy/pin.js';
import { printable } from '../protocol/printable.js';
import { parseRequestedEntry, RequestedEntryError } from '../protocol/secret-names.js';
import { formatExplanation } from './explain-output.js';
import { CliError, writeLine } from './cli-error.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo } from './secret-commands.js';

async function loadPolicy(file: string) {
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    throw new CliError(`${printable(file)} is not a valid policy:\n${error.message}`);
  }
}

/** Claims from --claims FILE.json or from a JWT's payload (not verified: explain is a diagnosis, not a check). */
async function readClaims(options: { claims?: string; token?: string }): Promise<Record<string, unknown>> {
  if ((options.claims === undefined) === (options.token === undefined))
    throw new CliError('give exactly one of --claims FILE.json and --token JWT');
  if (options.token !== undefined) {
    try {
      return decodeJwt(options.token);
    } catch {
      throw new CliError('--token is not a JWT (three base64url parts)');
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(options.claims as string, 'utf8'));
  } catch (error) {
    throw new CliError(
      `cannot read claims from ${printable(String(options.claims))}: ${printable((error as Error).message)}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`${printable(String(options.claims))} must hold a JSON object of claims`);
  return parsed as Record<string, unknown>;
}

export function registerPolicyCommands(program: Command, io: CommandIo): void {
  const policy = program.command('policy').description('work with policy files');

  policy
    .command('pin')
    .argument('<file>', 'policy YAML file')
    .option('--check', 'only report what is missing or wrong; change nothing')
    .option(
      '--github-api-url <url>',
      'GitHub API (default https://api.github.com, or https://HOST/api/v3 for an Enterprise Server issuer; GITHUB_API_URL)',
    )
    .option('--gitlab-url <url>', 'GitLab instance (default the issuer URL; GITLAB_URL)')
    .description(
      "write each rule's repository, owner, project and group ids next to their names (GITHUB_TOKEN, GITLAB_TOKEN)",
    )
    .action(async (file: string, options: { check?: boolean; githubApiUrl?: string; gitlabUrl?: string }) => {
      await loadPolicy(file);
      const text = await readFile(file, 'utf8');
      const env = io.environment;
      const result = await pinPolicy(
        text,
        restLookup({ github: env.GITHUB_TOKEN, gitlab: env.GITLAB_TOKEN }),
        {
          githubApiUrl: options.githubApiUrl ?? (env.GITHUB_API_URL || undefined),
          gitlabUrl: options.gitlabUrl ?? (env.GITLAB_URL || undefined),
        },
      );
      for (const event of result.events) {
        const verb = options.check === true && event.kind === 'added' ? 'missing' : event.kind;
        writeLine(io.stdout, `rule "${printable(event.rule)}": ${verb}: ${printable(event.message)}`);
      }
      const problems = result.events.filter((event) =>
        ['mismatch', 'renamed', 'failed'].includes(event.kind),
      ).length;
      const missing = result.events.filter((event) => event.kind === 'added').length;
      if (options.check === true) {
        writeLine(io.stdout, `${printable(file)}: ${missing} id(s) missing, ${problems} problem(s)`);
        if (missing + problems > 0) throw new CliError('', undefined, 1);
        return;
      }
      if (result.changed) {
        parsePolicy(result.text, file);
        await writeFile(file, result.text);
      }
      writeLine(io.stdout, `${printable(file)}: ${missing} id(s) written, ${problems} problem(s)`);
      if (problems > 0) throw new CliError('', undefined, 1);
    });

  policy
    .command('lint')
    .argument('<file>', 'policy YAML file')
    .option('--format <format>', 'text or json', 'text')
    .description('warn about known OIDC trust-policy mistakes; exit 0 clean, 1 errors, 2 warnings only')
    .action(async (file: string, options: { format: string }) => {
      if (options.format !== 'text' && options.format !== 'json')
        throw new CliError('--format must be text or json');
      const findings = lintPolicy(await loadPolicy(file));
      const errors = findings.filter((finding) => finding.severity === 'error').length;
      const warnings = findings.length - errors;
      if (options.format === 'json') {
        writeLine(io.stdout, terminalJson({ file, errors, warnings, findings }, 2));
      } else {
        for (const finding of findings) {
          writeLine(
            io.stdout,
            `${printable(file)}:${finding.line}: ${finding.severity} [${printable(finding.check)}] rule "${printable(finding.rule)}": ${printable(finding.message)}`,
          );
        }
        writeLine(io.stdout, `${printable(file)}: ${errors} error(s), ${warnings} warning(s)`);
      }
      if (errors > 0) throw new CliError('', undefined, 1);
      if (warnings > 0) throw new CliError('', undefined, 2);
    });

  policy
    .command('explain')
    .argument('<file>', 'policy YAML file')
    .option('--claims <file>', 'a JSON object of token claims (with "iss")')
    .option('--token <jwt>', 'an ID token; its claims are read, its signature is not checked')
    .option(
      '--secret <name>',
      'a requested entry to decide (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--json', 'print JSON')
    .description('show, rule by rule and claim by claim, what the policy decides for a token')
    .action(
      async (
        file: string,
        options: { claims?: string; token?: string; secret: string[]; json?: boolean },
      ) => {
        const compiled = await loadPolicy(file);
        const claims = await readClaims(options);
        for (const entry of options.secret) {
          try {
            parseRequestedEntry(entry);
          } catch (error) {
            if (error instanceof RequestedEntryError)
              throw new CliError(`--secret ${printable(error.message)}`);
            throw error;
          }
        }
        const explanation = explainDecision(compiled, claims, options.secret);
        if (options.json === true) writeLine(io.stdout, terminalJson(explanation, 2));
        else for (const line of formatExplanation(explanation)) writeLine(io.stdout, line);
      },
    );

  policy
    .command('check')
    .argument('<file>', 'policy YAML file')
    .description('validate a policy file; errors name the file, line and column')
    .action(async (file: string) => {
      const compiled = await loadPolicy(file);
      const issuers = [...compiled.issuers.values()]
        .map((issuer) => `${printable(issuer.name)} (${printable(issuer.url)})`)
        .join(', ');
      writeLine(
        io.stdout,
        `${printable(file)}: valid: audience ${printable(compiled.audience)}; ${compiled.issuers.size} issuer(s): ${issuers}; ${compiled.rules.length} rule(s)`,
      );
    });
}
