import { CodedError } from '../../protocol/coded-error.js';
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { compileClaimMatcher, MatcherSyntaxError } from './matchers.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_MAX_TOKEN_AGE_SECONDS,
  policyFileSchema,
  type PolicyFile,
} from './policy-schema.js';
import type {
  CompiledClaimBinding,
  CompiledPolicy,
  CompiledRule,
  CompiledSecretGrant,
  IssuerConfig,
} from './compiled-policy.js';
import { compileSecretTarget } from '../../protocol/secret-names.js';
import { describeSchemaIssues, type Path } from './schema-problems.js';
import { indexRules } from './rule-index.js';
import { compileWhen } from './conditions.js';
import { normalHttpUrl } from '../../protocol/url-spelling.js';
import { compilePinnedKeys, type PinnedKeySet } from './pinned-keys.js';

export interface PolicyProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
}

export class PolicyError extends CodedError {
  readonly code: string = 'policy_invalid';
  constructor(readonly problems: readonly PolicyProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'PolicyError';
  }
}

export function formatProblem(problem: PolicyProblem): string {
  const where = problem.path === '' ? '' : ` ${problem.path}:`;
  return `${problem.file}:${problem.line}:${problem.column}:${where} ${problem.message}`;
}

export async function loadPolicyFile(file: string): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new PolicyError([
      { file, line: 1, column: 1, path: '', message: `cannot read the policy file: ${reason}` },
    ]);
  }
  return parsePolicy(text, file);
}

/** Parses, validates and compiles a policy. Every problem found is reported at once, with line and column. */
export function parsePolicy(text: string, file: string): CompiledPolicy {
  const lineCounter = new LineCounter();
  // Failsafe schema: every scalar stays the string the author wrote (1234, true and 1e3 included).
  const document = parseDocument(text, { schema: 'failsafe', lineCounter, prettyErrors: false });
  const problems: PolicyProblem[] = [];
  const report = (path: Path, message: string, atKey?: string): void => {
    const offset = offsetOf(document, path, atKey);
    const position = lineCounter.linePos(offset);
    problems.push({
      file,
      line: position.line,
      column: position.col,
      path: formatPath(path, atKey),
      message,
    });
  };

  for (const error of document.errors) {
    const position = lineCounter.linePos(error.pos[0]);
    problems.push({
      file,
      line: position.line,
      column: position.col,
      path: '',
      message: error.message.split('\n')[0] ?? '',
    });
  }
  if (problems.length > 0) throw new PolicyError(problems);

  const input: unknown = document.toJS() ?? {};
  const parsed = policyFileSchema.safeParse(input);
  if (!parsed.success) {
    for (const problem of describeSchemaIssues(parsed.error.issues, input, policyFileSchema))
      report(problem.path, problem.message, problem.atKey);
    throw new PolicyError(sortProblems(problems));
  }
  const compiled = compile(
    parsed.data,
    file,
    report,
    (path) => lineCounter.linePos(offsetOf(document, path)).line,
  );
  if (problems.length > 0) throw new PolicyError(sortProblems(problems));
  return compiled;
}

type Report = (path: Path, message: string, atKey?: string) => void;
type LineOf = (path: Path) => number;
type PolicyRule = PolicyFile['rules'][number];

function compileIssuers(
  policy: PolicyFile,
  file: string,
  report: Report,
  lineOf: LineOf,
): Pick<CompiledPolicy, 'issuers' | 'issuersByUrl'> {
  const issuers = new Map<string, IssuerConfig>();
  const issuersByUrl = new Map<string, IssuerConfig>();
  const servers = enterpriseServerOrigins(policy);
  const audienceProblem = githubDefaultAudience(policy.audience, servers);
  if (audienceProblem !== undefined) report(['audience'], audienceProblem);
  for (const [name, issuer] of Object.entries(policy.issuers)) {
    const path = ['issuers', name];
    const ownAudienceProblem =
      issuer.audience === undefined ? undefined : githubDefaultAudience(issuer.audience, servers);
    if (ownAudienceProblem !== undefined) report([...path, 'audience'], ownAudienceProblem);
    const config: IssuerConfig = {
      name,
      line: lineOf(path),
      url: issuer.url,
      algorithms: issuer.algorithms ?? ['RS256'],
      maxTokenAgeSeconds: issuer.max_token_age ?? DEFAULT_MAX_TOKEN_AGE_SECONDS,
      replayKey: issuer.replay_key ?? 'jti',
      audience: issuer.audience ?? policy.audience,
      keyBinding: issuer.key_binding ?? 'optional',
      pinnedKeys: compileIssuerKeys(issuer, path, file, report),
    };
    const sameUrl = issuersByUrl.get(issuer.url);
    if (sameUrl !== undefined) {
      report([...path, 'url'], `issuer "${sameUrl.name}" already has this URL; list each issuer once`);
    }
    issuers.set(name, config);
    issuersByUrl.set(issuer.url, config);
  }
  return { issuers, issuersByUrl };
}

/** The issuer's pinned keys (`jwks_file` or `jwks`, never both), or undefined when its keys are discovered. */
function compileIssuerKeys(
  issuer: PolicyFile['issuers'][string],
  path: Path,
  file: string,
  report: Report,
): PinnedKeySet | undefined {
  if (issuer.jwks_file !== undefined && issuer.jwks !== undefined) {
    report([...path, 'jwks'], 'give the pinned keys once: jwks_file or jwks, not both');
    return undefined;
  }
  const where = issuer.jwks_file !== undefined ? 'jwks_file' : issuer.jwks !== undefined ? 'jwks' : undefined;
  if (where === undefined) return undefined;
  const compiled = compilePinnedKeys(
    issuer.jwks_file !== undefined ? { file: issuer.jwks_file } : { inline: issuer.jwks },
    file,
  );
  if ('problems' in compiled) {
    for (const problem of compiled.problems) report([...path, where], problem);
    return undefined;
  }
  return compiled;
}

/**
 * Why `audience` cannot be the broker's: GitHub's default audience (`https://github.com/OWNER`, or
 * `https://HOST/OWNER` on a GitHub Enterprise Server the policy trusts), which every token a job gets without
 * asking for an audience carries, so any step of any job of that owner would be accepted. Undefined otherwise.
 */
function githubDefaultAudience(audience: string, serverOrigins: readonly string[]): string | undefined {
  const spelling = normalHttpUrl(audience);
  if (spelling === undefined) return undefined;
  const url = new URL(spelling);
  const ownerPath = /^\/[^/]+$/.test(url.pathname);
  const isDefault = url.origin === 'https://github.com' || (ownerPath && serverOrigins.includes(url.origin));
  if (!isDefault) return undefined;
  return `${JSON.stringify(audience)} is GitHub's default audience, carried by every token a job gets without naming one (any action of any job of that owner); choose an audience only this broker uses, such as its URL (https://secrets.example.com)`;
}

/** The origins of the GitHub Enterprise Server issuers (`https://HOST/_services/token`) the policy lists. */
function enterpriseServerOrigins(policy: PolicyFile): string[] {
  return Object.values(policy.issuers).flatMap((issuer) => {
    const url = new URL(issuer.url);
    return /\/_services\/token\/?$/.test(url.pathname) ? [url.origin] : [];
  });
}

/** A rule's name is unique, its issuer exists and it binds at least one claim. */
function checkRuleHeader(
  rule: PolicyRule,
  rulePath: Path,
  ruleNames: Set<string>,
  issuers: ReadonlyMap<string, IssuerConfig>,
  report: Report,
): void {
  if (ruleNames.has(rule.name)) report([...rulePath, 'name'], `another rule is already named "${rule.name}"`);
  ruleNames.add(rule.name);
  if (!issuers.has(rule.issuer)) {
    const known = [...issuers.keys()].map((name) => `"${name}"`).join(', ');
    report(
      [...rulePath, 'issuer'],
      `no issuer is named "${rule.issuer}"; the issuers section names ${known}`,
    );
  }
  if (Object.keys(rule.claims).length === 0) {
    report(
      [...rulePath, 'claims'],
      'a rule must bind at least one claim; without one it grants to every workload of the issuer (bind repository_id or project_id)',
    );
  }
}

function compileClaims(
  rule: PolicyRule,
  rulePath: Path,
  report: Report,
  lineOf: LineOf,
): CompiledClaimBinding[] {
  return Object.entries(rule.claims).flatMap(([claim, spec]) => {
    try {
      return [
        { claim, matcher: compileClaimMatcher(spec), spec, line: lineOf([...rulePath, 'claims', claim]) },
      ];
    } catch (error) {
      if (!(error instanceof MatcherSyntaxError)) throw error;
      report([...rulePath, 'claims', claim, ...error.subPath], error.message);
      return [];
    }
  });
}

function compileSecrets(
  rule: PolicyRule,
  rulePath: Path,
  report: Report,
  lineOf: LineOf,
): CompiledSecretGrant[] {
  return rule.secrets.flatMap((pattern, index) => {
    const glob = compileSecretTarget(pattern);
    if (typeof glob === 'string') {
      report([...rulePath, 'secrets', index], `not a secret name or pattern: ${glob}`);
      return [];
    }
    return [{ pattern, glob, line: lineOf([...rulePath, 'secrets', index]) }];
  });
}

function compileRule(rule: PolicyRule, rulePath: Path, report: Report, lineOf: LineOf): CompiledRule {
  const claims = compileClaims(rule, rulePath, report, lineOf);
  const secrets = compileSecrets(rule, rulePath, report, lineOf);
  const claimsByCost = [...claims].sort((a, b) => a.matcher.cost - b.matcher.cost);
  const when = compileWhen(rule.when, [...rulePath, 'when'], report, lineOf);
  return {
    name: rule.name,
    issuer: rule.issuer,
    line: lineOf(rulePath),
    claims,
    claimsByCost,
    secrets,
    when,
  };
}

function compile(policy: PolicyFile, file: string, report: Report, lineOf: LineOf): CompiledPolicy {
  const { issuers, issuersByUrl } = compileIssuers(policy, file, report, lineOf);
  const ruleNames = new Set<string>();
  const rules = policy.rules.map((rule, ruleIndex) => {
    const rulePath = ['rules', ruleIndex];
    checkRuleHeader(rule, rulePath, ruleNames, issuers, report);
    return compileRule(rule, rulePath, report, lineOf);
  });
  const limits = {
    perSourceIp: policy.limits?.per_source_ip ?? DEFAULT_LIMITS.per_source_ip,
    perWorkload: policy.limits?.per_workload ?? DEFAULT_LIMITS.per_workload,
  };
  return {
    source: file,
    audience: policy.audience,
    issuers,
    issuersByUrl,
    rules,
    ruleIndex: indexRules(rules),
    limits,
  };
}

/** Offset of the node at `path` (or of the key `atKey` inside it); the nearest existing ancestor if it is missing. */
function offsetOf(document: Document, path: Path, atKey?: string): number {
  let node: unknown = document.contents;
  let offset = rangeStart(node) ?? 0;
  const steps = atKey === undefined ? path : [...path, atKey];
  for (const [index, step] of steps.entries()) {
    const isKeyStep = atKey !== undefined && index === steps.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(step));
      if (pair === undefined) return offset;
      if (isKeyStep) return rangeStart(pair.key) ?? offset;
      node = pair.value;
      offset = rangeStart(node) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof step === 'number') {
      node = node.items[step];
      offset = rangeStart(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

function formatPath(path: Path, atKey?: string): string {
  const all = atKey === undefined ? path : [...path, atKey];
  return all
    .map((step, index) => (typeof step === 'number' ? `[${step}]` : index === 0 ? step : `.${step}`))
    .join('');
}

function sortProblems(problems: PolicyProblem[]): PolicyProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
