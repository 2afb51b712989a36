import type { z } from 'zod';
import { quoted } from '../../protocol/quoted.js';
import { closestWord, didYouMean } from './did-you-mean.js';

export type Path = readonly (string | number)[];

/** One problem of a policy file for a human: where (the path, and the key when the key itself is wrong) and what. */
export interface SchemaProblem {
  readonly path: Path;
  readonly atKey?: string;
  readonly message: string;
}

/** What each key of the policy file holds, for "add it" hints. */
const KEY_HELP: Readonly<Record<string, string>> = {
  version: 'version: 1',
  audience: 'audience: with the URL tokens must carry in "aud" (such as https://secrets.example.com)',
  issuers: 'issuers: with a map of issuer names to { url: ... }',
  rules: 'rules: with a list of rules (name, issuer, claims, secrets)',
  url: "url: with the issuer's https:// URL (the tokens' iss)",
  name: 'name: with a name for the rule',
  issuer: 'issuer: with the name of an issuer of the issuers section',
  claims: 'claims: with a map of claim names to the values they must have',
  secrets: 'secrets: with a list of secret names or patterns',
  timezone: 'timezone: with an IANA time zone name such as UTC, Europe/Oslo or America/New_York',
  rate: 'rate: with requests per second',
  burst: 'burst: with a number of requests',
};

type Issue = z.core.$ZodIssue;
interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly in?: z.ZodType;
}

function definition(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** The schema that validates the value at `path`, when the schema is one the policy file uses. */
function schemaAt(schema: z.ZodType | undefined, path: Path): z.ZodType | undefined {
  let current = schema;
  for (const step of path) {
    current = unwrap(current);
    if (current === undefined) return undefined;
    const def = definition(current);
    if (def.type === 'object') current = def.shape?.[String(step)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else return undefined;
  }
  return unwrap(current);
}

function unwrap(schema: z.ZodType | undefined): z.ZodType | undefined {
  let current = schema;
  for (;;) {
    if (current === undefined) return undefined;
    const def = definition(current);
    if (def.innerType !== undefined) current = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) current = def.in;
    else return current;
  }
}

/** The keys an object schema allows at `path`, in the order the schema lists them. */
function keysAt(schema: z.ZodType, path: Path): string[] {
  const found = schemaAt(schema, path);
  const def = found === undefined ? undefined : definition(found);
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

function requiredKeysAt(schema: z.ZodType, path: Path): string[] {
  const found = schemaAt(schema, path);
  const def = found === undefined ? undefined : definition(found);
  if (def?.type !== 'object') return [];
  return Object.entries(def.shape ?? {})
    .filter(([, value]) => definition(value).type !== 'optional')
    .map(([key]) => key);
}

function valueAt(input: unknown, path: Path): unknown {
  let current = input;
  for (const step of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

/** A kind of value as the policy author sees it in YAML. */
function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null || value === '') return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map (key: value lines)';
  return `the value ${quoted(value)}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  array: 'a list (- item lines, or [a, b])',
  object: 'a map (key: value lines)',
  record: 'a map (key: value lines)',
  string: 'a single value',
};

function expectedKind(expected: string): string {
  return EXPECTED[expected] ?? expected;
}

function lastKey(path: Path): string {
  return String(path[path.length - 1] ?? '');
}

/** zod's default texts start so; the schema's own messages do not. */
function isDefaultMessage(message: string): boolean {
  return /^(Too (big|small)|Invalid (input|key|string)|Unrecognized key)/.test(message);
}

function sizeMessage(issue: Issue & { code: 'too_big' | 'too_small' }): string {
  if (!isDefaultMessage(issue.message)) return issue.message;
  const big = issue.code === 'too_big';
  const limit = Number(
    big ? (issue as { maximum: unknown }).maximum : (issue as { minimum: unknown }).minimum,
  );
  if (issue.origin === 'string') {
    if (!big && limit === 1) return 'must not be empty';
    return big ? `is too long: at most ${limit} characters` : `is too short: at least ${limit} characters`;
  }
  if (issue.origin === 'array' || issue.origin === 'set')
    return big ? `has too many items: at most ${limit}` : `needs at least ${limit} item(s)`;
  return big ? `must be at most ${limit}` : `must be at least ${limit}`;
}

type IssueOf<Code extends Issue['code']> = Extract<Issue, { code: Code }>;

/** Each unknown key, with "did you mean" or the keys allowed there. */
function unknownKeys(issue: IssueOf<'unrecognized_keys'>, path: Path, schema: z.ZodType): SchemaProblem[] {
  const known = keysAt(schema, path);
  return issue.keys.map((key) => {
    const suggestion = didYouMean(key, known);
    return {
      path,
      atKey: key,
      message: `unknown key ${quoted(key)};${suggestion || ` the keys allowed here are ${known.join(', ')}`}`,
    };
  });
}

/** A missing key (with what to add), a file that is not a map, or a value of the wrong kind. */
function wrongType(issue: IssueOf<'invalid_type'>, path: Path, value: unknown): SchemaProblem {
  const key = lastKey(path);
  if (value === undefined && typeof path[path.length - 1] === 'string')
    return {
      path,
      message: `is missing: add ${KEY_HELP[key] ?? `${key}: (${expectedKind(issue.expected)})`}`,
    };
  if (path.length === 0)
    return {
      path,
      message: `the policy file must be a map with version, audience, issuers and rules, not ${kindOf(value)}`,
    };
  return { path, message: `must be ${expectedKind(issue.expected)}, not ${kindOf(value)}` };
}

function notAllowedValue(issue: IssueOf<'invalid_value'>, path: Path, value: unknown): SchemaProblem {
  const allowed = issue.values.map(String);
  const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
  return {
    path,
    message: `${issue.message}; got ${kindOf(value).replace(/^the value /, '')}${hint ? `;${hint}` : ''}`,
  };
}

/** A map key that breaks the rules for names, reported at the key. */
function notAllowedKey(issue: IssueOf<'invalid_key'>, path: Path): SchemaProblem {
  const reasons = issue.issues.map((inner) =>
    inner.code === 'too_small' || inner.code === 'too_big' ? sizeMessage(inner) : inner.message,
  );
  const key = lastKey(path);
  return {
    path: path.slice(0, -1),
    atKey: key,
    message: `the name ${quoted(key)} is not allowed: ${reasons.join('; ')}`,
  };
}

function describeOne(issue: Issue, input: unknown, schema: z.ZodType): SchemaProblem[] {
  const path = issue.path as Path;
  const value = valueAt(input, path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return unknownKeys(issue, path, schema);
    case 'invalid_type':
      return [wrongType(issue, path, value)];
    case 'invalid_value':
      return [notAllowedValue(issue, path, value)];
    case 'too_big':
    case 'too_small':
      return [{ path, message: sizeMessage(issue) }];
    case 'invalid_format':
      return [{ path, message: `${issue.message}; got ${kindOf(value).replace(/^the value /, '')}` }];
    case 'invalid_key':
      return [notAllowedKey(issue, path)];
    default:
      return [{ path, message: issue.message }];
  }
}

interface Typo {
  readonly parent: string;
  readonly key: string;
  readonly intended: string;
}

const pathKey = (path: Path): string => JSON.stringify(path);

/**
 * Every problem zod found in a policy file, one clear line each: what was wrong and how to fix it, with
 * "did you mean" for a misspelled key. A misspelled required key is one problem (the unknown key, naming the
 * missing one it was meant to be), not an unknown key plus a missing one.
 */
export function describeSchemaIssues(
  issues: readonly Issue[],
  input: unknown,
  schema: z.ZodType,
): SchemaProblem[] {
  const typos: Typo[] = [];
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const parent = issue.path as Path;
    const present = valueAt(input, parent) as Record<string, unknown> | undefined;
    const missing = requiredKeysAt(schema, parent).filter((name) => present?.[name] === undefined);
    for (const key of issue.keys) {
      const intended = closestWord(key, missing);
      if (intended !== undefined) typos.push({ parent: pathKey(parent), key, intended });
    }
  }
  // A value of the wrong type is one problem: zod may also run the checks meant for the right type on it.
  const wrongType = new Set(
    issues.filter((issue) => issue.code === 'invalid_type').map((issue) => pathKey(issue.path as Path)),
  );
  return issues
    .filter((issue) => issue.code === 'invalid_type' || !wrongType.has(pathKey(issue.path as Path)))
    .flatMap((issue) => describeOne(issue, input, schema))
    .flatMap((problem) => {
      const parent = pathKey(problem.atKey === undefined ? problem.path.slice(0, -1) : problem.path);
      const typo = typos.find(
        (candidate) =>
          candidate.parent === parent &&
          (problem.atKey === undefined
            ? candidate.intended === lastKey(problem.path)
            : candidate.key === problem.atKey),
      );
      if (typo === undefined) return [problem];
      if (problem.atKey === undefined) return [];
      return [
        {
          ...problem,
          message: `unknown key ${quoted(typo.key)}; did you mean "${typo.intended}"? (it is required here and missing)`,
        },
      ];
    });
}
