import { Option, type Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import {
  EXPLAIN_STEPS,
  explainDecision,
  explainTokenWithKeys,
  type ExplainConditions,
} from '../broker/explain/explain.js';
import { WorkBudget } from '../protocol/automaton.js';
import { lintPolicy, unknownClaims, type LintFinding } from '../broker/policy/lint.js';
import { loadPolicyFile, parsePolicy, PolicyError } from '../broker/policy/load-policy.js';
import { pinPolicy, restLookup } from '../broker/policy/pin.js';
import { printable } from '../protocol/printable.js';
import { quoted } from '../protocol/quoted.js';
import { parseRequestedEntry, RequestedEntryError } from '../protocol/secret-names.js';
import { formatExplanation } from './explain-output.js';
import { CliError, writeLine } from './cli-error.js';
import { terminalJson } from './terminal-json.js';
import type { CommandIo } from './secret-commands.js';

async function loadPolicy(file: string, io: CommandIo, json = false) {
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    if (json) {
      writeLine(io.stdout, terminalJson({ file, valid: false, problems: error.problems }, 2));
      throw new CliError('', undefined, 1);
    }
    throw new CliError(`${printable(file)} is not a valid policy:\n${error.message}`);
  }
}

function findingLine(file: string, finding: LintFinding): string {
  const subject =
    finding.issuer === undefined
      ? `rule "${printable(finding.rule)}"`
      : `issuer "${printable(finding.issuer)}"`;
  return `${printable(file)}:${finding.line}: ${finding.severity} [${printable(finding.check)}] ${subject}: ${printable(finding.message)}`;
}

/** Claims from --claims FILE.json: explained as if a token carrying them had passed every token check. */
async function readClaims(file: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read claims from ${printable(file)}: ${printable((error as Error).message)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`${printable(file)} must hold a JSON object of claims`);
  return parsed as Record<string, unknown>;
}

/** The grammar of the admin API's `at` (explainRequestSchema), so both forms of explain take the same times. */
const ISO_DATE_TIME = z.iso.datetime({ offset: true });

/** --source-ip and --at, checked: the rule conditions are explained for that address at that time. */
function explainConditions(sourceIp: string | undefined, at: string | undefined): ExplainConditions {
  if (sourceIp !== undefined && isIP(sourceIp) === 0)
    throw new CliError(
      `--source-ip ${quoted(sourceIp)} is not an IP address`,
      'give an IPv4 or IPv6 address such as 203.0.113.7 or 2001:db8::7',
    );
  if (at === undefined) return { sourceIp };
  const time = ISO_DATE_TIME.safeParse(at).success ? new Date(at) : undefined;
  if (time === undefined || Number.isNaN(time.getTime()))
    throw new CliError(
      `--at ${quoted(at)} is not an ISO 8601 date-time with a zone`,
      'write it such as 2026-03-09T14:00:00Z or 2026-03-09T09:00:00-05:00',
    );
  return { sourceIp, at: time };
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
    .option('--json', 'print the result as JSON')
    .description(
      "write each rule's repository, owner, project and group ids next to their names (GITHUB_TOKEN, GITLAB_TOKEN)",
    )
    .action(
      async (
        file: string,
        options: { check?: boolean; githubApiUrl?: string; gitlabUrl?: string; json?: boolean },
      ) => {
        const json = options.json === true;
        await loadPolicy(file, io, json);
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
        const check = options.check === true;
        const verbOf = (kind: string): string => (check && kind === 'added' ? 'missing' : kind);
        const problems = result.events.filter((event) =>
          ['mismatch', 'renamed', 'failed'].includes(event.kind),
        ).length;
        const missing = result.events.filter((event) => event.kind === 'added').length;
        const write = !check && result.changed;
        if (write) {
          parsePolicy(result.text, file);
          await writeFile(file, result.text);
        }
        if (json) {
          writeLine(
            io.stdout,
            terminalJson(
              {
                file,
                check,
                missing_ids: missing,
                written: write,
                problems,
                events: result.events.map((event) => ({
                  rule: event.rule,
                  claim: event.claim,
                  kind: verbOf(event.kind),
                  message: event.message,
                })),
              },
              2,
            ),
          );
        } else {
          for (const event of result.events) {
            writeLine(
              io.stdout,
              `rule "${printable(event.rule)}": ${verbOf(event.kind)}: ${printable(event.message)}`,
            );
          }
          writeLine(
            io.stdout,
            check
              ? `${printable(file)}: ${missing} id(s) missing, ${problems} problem(s)`
              : `${printable(file)}: ${missing} id(s) written, ${problems} problem(s)`,
          );
        }
        if (problems > 0 || (check && missing > 0)) throw new CliError('', undefined, 1);
      },
    );

  policy
    .command('lint')
    .argument('<file>', 'policy YAML file')
    .option('--json', 'print the findings as JSON')
    // Deprecated spelling of --json, kept so existing scripts keep working.
    .addOption(new Option('--format <format>', 'text or json (deprecated: use --json)').hideHelp())
    .description('warn about known OIDC trust-policy mistakes; exit 0 clean, 1 errors, 2 warnings only')
    .action(async (file: string, options: { json?: boolean; format?: string }) => {
      if (options.format !== undefined && options.format !== 'text' && options.format !== 'json')
        throw new CliError('--format must be text or json', 'use --json for JSON output');
      const json = options.json === true || options.format === 'json';
      const findings = lintPolicy(await loadPolicy(file, io, json));
      const errors = findings.filter((finding) => finding.severity === 'error').length;
      const warnings = findings.length - errors;
      if (json) {
        writeLine(io.stdout, terminalJson({ file, errors, warnings, findings }, 2));
      } else {
        for (const finding of findings) writeLine(io.stdout, findingLine(file, finding));
        writeLine(io.stdout, `${printable(file)}: ${errors} error(s), ${warnings} warning(s)`);
      }
      if (errors > 0) throw new CliError('', undefined, 1);
      // 3, not 2: exit code 2 means the command was used wrongly, and a CI step must tell the two apart.
      if (warnings > 0) throw new CliError('', undefined, 3);
    });

  policy
    .command('explain')
    .argument('<file>', 'policy YAML file')
    .option('--claims <file>', 'a JSON object of token claims (with "iss"); no token checks are made')
    .option(
      '--token <jwt>',
      "an ID token: every check the broker makes of it (its signature only where the policy pins the issuer's keys), then the policy for its claims",
    )
    .option(
      '--secret <name>',
      'a requested entry to decide (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option(
      '--source-ip <address>',
      "the client address to check rules' when.source_ips against (not checked without it)",
    )
    .option(
      '--at <time>',
      "the time to check rules' when.time at (ISO 8601, such as 2026-03-09T14:00:00Z; default now)",
    )
    .option('--json', 'print JSON')
    .description('show, rule by rule and claim by claim, what the policy decides for a token')
    .action(
      async (
        file: string,
        options: {
          claims?: string;
          token?: string;
          secret: string[];
          sourceIp?: string;
          at?: string;
          json?: boolean;
        },
      ) => {
        const compiled = await loadPolicy(file, io, options.json === true);
        if ((options.claims === undefined) === (options.token === undefined))
          throw new CliError('give exactly one of --claims FILE.json and --token JWT');
        const conditions = explainConditions(options.sourceIp, options.at);
        for (const entry of options.secret) {
          try {
            parseRequestedEntry(entry);
          } catch (error) {
            if (error instanceof RequestedEntryError)
              throw new CliError(`--secret ${printable(error.message)}`);
            throw error;
          }
        }
        const explanation =
          options.token !== undefined
            ? await explainTokenWithKeys(
                compiled,
                options.token,
                options.secret,
                undefined,
                undefined,
                conditions,
              )
            : explainDecision(
                compiled,
                await readClaims(options.claims as string),
                options.secret,
                new WorkBudget(EXPLAIN_STEPS),
                conditions,
              );
        if (options.json === true) writeLine(io.stdout, terminalJson(explanation, 2));
        else for (const line of formatExplanation(explanation)) writeLine(io.stdout, line);
      },
    );

  policy
    .command('check')
    .argument('<file>', 'policy YAML file')
    .option('--json', 'print the result as JSON')
    .description(
      'validate a policy file; errors name the file, line and column; claims GitHub or GitLab tokens never carry are warnings',
    )
    .action(async (file: string, options: { json?: boolean }) => {
      const json = options.json === true;
      const compiled = await loadPolicy(file, io, json);
      // A claim the issuer never sends leaves a valid but dead rule: policy lint reports it as an error.
      const warnings = unknownClaims(compiled).map((finding) => ({
        ...finding,
        severity: 'warning' as const,
      }));
      if (json) {
        writeLine(
          io.stdout,
          terminalJson(
            {
              file,
              valid: true,
              audience: compiled.audience,
              issuers: [...compiled.issuers.values()].map((issuer) => ({
                name: issuer.name,
                url: issuer.url,
              })),
              rules: compiled.rules.length,
              warnings,
            },
            2,
          ),
        );
        return;
      }
      for (const warning of warnings) writeLine(io.stdout, findingLine(file, warning));
      const issuers = [...compiled.issuers.values()]
        .map((issuer) => `${printable(issuer.name)} (${printable(issuer.url)})`)
        .join(', ');
      writeLine(
        io.stdout,
        `${printable(file)}: valid: audience ${printable(compiled.audience)}; ${compiled.issuers.size} issuer(s): ${issuers}; ${compiled.rules.length} rule(s)${warnings.length > 0 ? `; ${warnings.length} warning(s)` : ''}`,
      );
    });
}
