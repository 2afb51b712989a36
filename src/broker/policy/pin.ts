import { CodedError } from '../../protocol/coded-error.js';
import { boundedGetJson, BoundedRequestError } from '../../protocol/bounded-request.js';
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap } from 'yaml';
import { hasGlobCharacters } from '../../protocol/glob.js';

/** Looks names up in GitHub's and GitLab's REST APIs and returns their immutable ids. */
export interface IdLookup {
  githubRepository(
    apiUrl: string,
    fullName: string,
  ): Promise<{ id: number; fullName: string; ownerId: number }>;
  githubOwner(apiUrl: string, login: string): Promise<{ id: number }>;
  gitlabProject(baseUrl: string, path: string): Promise<{ id: number; path: string; namespaceId: number }>;
  gitlabNamespace(baseUrl: string, path: string): Promise<{ id: number }>;
}

export class LookupError extends CodedError {
  readonly code: string = 'lookup_failed';
  override name = 'LookupError';
}

export interface PinOptions {
  /** GitHub API base; default from the issuer (github.com, or https://HOST/api/v3 for GitHub Enterprise Server). */
  readonly githubApiUrl?: string;
  /** GitLab base URL; default the issuer URL. */
  readonly gitlabUrl?: string;
}

export type PinEventKind = 'added' | 'pinned' | 'mismatch' | 'renamed' | 'skipped' | 'failed';

export interface PinEvent {
  readonly kind: PinEventKind;
  readonly rule: string;
  readonly claim: string;
  readonly message: string;
}

export interface PinResult {
  readonly events: readonly PinEvent[];
  /** The file with the ids added, comments and layout kept. */
  readonly text: string;
  readonly changed: boolean;
}

const LOOKUP_TIMEOUT_MS = 15_000;
const MAX_LOOKUP_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

/** One GET of a JSON object, bounded in time and bytes; a 404 is "not found", anything else says what failed. */
async function getJson(url: string, headers: Record<string, string>, what: string): Promise<Json> {
  try {
    return await boundedGetJson(url, {
      what,
      headers: { 'user-agent': 'secrets-broker-policy-pin', ...headers },
      ...(headers.accept === undefined ? {} : { accept: headers.accept }),
      timeoutMs: LOOKUP_TIMEOUT_MS,
      maxBytes: MAX_LOOKUP_BYTES,
    });
  } catch (error) {
    if (!(error instanceof BoundedRequestError)) throw error;
    if (error.status === 404) throw new LookupError(`${what} not found (or not visible with this token)`);
    throw new LookupError(error.message);
  }
}

function numericId(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new LookupError(`${what}: the answer has no numeric id`);
  return value;
}

function getGitHub(apiUrl: string, path: string, what: string, token: string | undefined): Promise<Json> {
  return getJson(
    `${apiUrl.replace(/\/+$/, '')}/${path}`,
    {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    what,
  );
}

function getGitLab(baseUrl: string, path: string, what: string, token: string | undefined): Promise<Json> {
  return getJson(
    `${baseUrl.replace(/\/+$/, '')}/api/v4/${path}`,
    { accept: 'application/json', ...(token ? { 'private-token': token } : {}) },
    what,
  );
}

export function restLookup(tokens: { github?: string; gitlab?: string }): IdLookup {
  const github = (apiUrl: string, path: string, what: string) => getGitHub(apiUrl, path, what, tokens.github);
  const gitlab = (baseUrl: string, path: string, what: string) =>
    getGitLab(baseUrl, path, what, tokens.gitlab);
  return {
    async githubRepository(apiUrl, fullName) {
      const [owner, repo] = fullName.split('/') as [string, string];
      const what = `GitHub repository ${fullName}`;
      const data = await github(
        apiUrl,
        `repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`,
        what,
      );
      const ownerData = (data.owner ?? {}) as Json;
      if (typeof data.full_name !== 'string') throw new LookupError(`${what}: the answer has no full_name`);
      return {
        id: numericId(data.id, what),
        fullName: data.full_name,
        ownerId: numericId(ownerData.id, what),
      };
    },
    async githubOwner(apiUrl, login) {
      const what = `GitHub owner ${login}`;
      const data = await github(apiUrl, `users/${encodeURIComponent(login)}`, what);
      return { id: numericId(data.id, what) };
    },
    async gitlabProject(baseUrl, path) {
      const what = `GitLab project ${path}`;
      const data = await gitlab(baseUrl, `projects/${encodeURIComponent(path)}`, what);
      const namespace = (data.namespace ?? {}) as Json;
      if (typeof data.path_with_namespace !== 'string')
        throw new LookupError(`${what}: the answer has no path_with_namespace`);
      return {
        id: numericId(data.id, what),
        path: data.path_with_namespace,
        namespaceId: numericId(namespace.id, what),
      };
    },
    async gitlabNamespace(baseUrl, path) {
      const what = `GitLab namespace ${path}`;
      const data = await gitlab(baseUrl, `namespaces/${encodeURIComponent(path)}`, what);
      return { id: numericId(data.id, what) };
    },
  };
}

function githubApiFor(issuerUrl: string): string {
  const url = new URL(issuerUrl);
  if (url.hostname === 'token.actions.githubusercontent.com') return 'https://api.github.com';
  return `${url.origin}/api/v3`;
}

function exactString(map: YAMLMap, key: string): string | undefined {
  const node = map.get(key, true);
  return isScalar(node) &&
    typeof node.value === 'string' &&
    node.value !== '' &&
    !hasGlobCharacters(node.value, 'claim')
    ? node.value
    : undefined;
}

function quoted(value: string): Scalar {
  const scalar = new Scalar(value);
  scalar.type = Scalar.QUOTE_DOUBLE;
  return scalar;
}

/** One rule being pinned: its name, its claims map (edited in place) and where its events go. */
interface RuleToPin {
  readonly name: string;
  readonly claims: YAMLMap;
  readonly issuerUrl: string;
  readonly events: PinEvent[];
}

/** The rule as something to pin, or undefined when it has no claims map or its issuer has no URL. */
function ruleToPin(rule: unknown, issuers: YAMLMap, events: PinEvent[]): RuleToPin | undefined {
  if (!isMap(rule)) return undefined;
  const name = String(rule.get('name') ?? '?');
  const claims = rule.get('claims', true);
  const issuerNode = issuers.get(String(rule.get('issuer') ?? ''), true);
  const issuerUrl = isMap(issuerNode) ? String(issuerNode.get('url') ?? '') : '';
  if (!isMap(claims) || issuerUrl === '') return undefined;
  return { name, claims, issuerUrl, events };
}

/** Adds `claim: "id"` when it is missing; reports it already there, or pinned to another id (never overwritten). */
function pinId(rule: RuleToPin, claim: string, id: number, source: string): void {
  const existing = rule.claims.get(claim, true);
  const value = String(id);
  if (existing === undefined) {
    rule.claims.set(claim, quoted(value));
    rule.events.push({ kind: 'added', rule: rule.name, claim, message: `${claim}: "${value}" (${source})` });
  } else if (isScalar(existing) && String(existing.value) === value) {
    rule.events.push({
      kind: 'pinned',
      rule: rule.name,
      claim,
      message: `${claim} already "${value}" (${source})`,
    });
  } else {
    rule.events.push({
      kind: 'mismatch',
      rule: rule.name,
      claim,
      message: `${source} is now id ${value}, but the rule pins ${claim}: ${JSON.stringify(isScalar(existing) ? existing.value : existing)}: the name was renamed, transferred or re-created; check which is right before changing the rule`,
    });
  }
}

/** Runs one lookup; a LookupError becomes a "failed" event for `claim`, anything else propagates. */
async function attempt(rule: RuleToPin, claim: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof LookupError)) throw error;
    rule.events.push({ kind: 'failed', rule: rule.name, claim, message: error.message });
  }
}

function reportRenamed(rule: RuleToPin, claim: string, message: string): void {
  rule.events.push({ kind: 'renamed', rule: rule.name, claim, message });
}

/** Pins repository_id and repository_owner_id from the repository, or repository_owner_id from the owner. */
async function pinGitHub(rule: RuleToPin, lookup: IdLookup, githubApi: string): Promise<void> {
  const repository = exactString(rule.claims, 'repository');
  const owner = exactString(rule.claims, 'repository_owner');
  if (repository !== undefined) {
    await attempt(rule, 'repository', async () => {
      const found = await lookup.githubRepository(githubApi, repository);
      if (found.fullName.toLowerCase() !== repository.toLowerCase())
        reportRenamed(
          rule,
          'repository',
          `repository ${repository} is now ${found.fullName} (renamed or transferred)`,
        );
      pinId(rule, 'repository_id', found.id, `repository ${repository}`);
      pinId(rule, 'repository_owner_id', found.ownerId, `owner of ${repository}`);
    });
  } else if (owner !== undefined) {
    await attempt(rule, 'repository_owner', async () =>
      pinId(rule, 'repository_owner_id', (await lookup.githubOwner(githubApi, owner)).id, `owner ${owner}`),
    );
  }
}

/** Pins project_id and namespace_id from the project, or namespace_id from the group. */
async function pinGitLab(rule: RuleToPin, lookup: IdLookup, gitlabUrl: string): Promise<void> {
  const project = exactString(rule.claims, 'project_path');
  const namespace = exactString(rule.claims, 'namespace_path');
  if (project !== undefined) {
    await attempt(rule, 'project_path', async () => {
      const found = await lookup.gitlabProject(gitlabUrl, project);
      if (found.path.toLowerCase() !== project.toLowerCase())
        reportRenamed(rule, 'project_path', `project ${project} is now ${found.path} (renamed or moved)`);
      pinId(rule, 'project_id', found.id, `project ${project}`);
      pinId(rule, 'namespace_id', found.namespaceId, `namespace of ${project}`);
    });
  } else if (namespace !== undefined) {
    await attempt(rule, 'namespace_path', async () =>
      pinId(
        rule,
        'namespace_id',
        (await lookup.gitlabNamespace(gitlabUrl, namespace)).id,
        `namespace ${namespace}`,
      ),
    );
  }
}

/** A name claim bound to a glob, regex or list has no single id: say so. */
function reportUnpinnable(rule: RuleToPin): void {
  for (const claim of ['repository', 'repository_owner', 'project_path', 'namespace_path']) {
    if (rule.claims.has(claim) && exactString(rule.claims, claim) === undefined) {
      rule.events.push({
        kind: 'skipped',
        rule: rule.name,
        claim,
        message: `${claim} is not one exact name, so there is no single id to pin`,
      });
    }
  }
}

/**
 * Resolves each rule's repository, owner, project and group names to their immutable ids and writes the ids
 * next to them. A name that now maps to another id than the one pinned is reported, never overwritten.
 */
export async function pinPolicy(
  text: string,
  lookup: IdLookup,
  options: PinOptions = {},
): Promise<PinResult> {
  const document: Document = parseDocument(text);
  const events: PinEvent[] = [];
  const issuers = document.get('issuers', true);
  const rules = document.get('rules', true);
  if (!isMap(issuers) || !isSeq(rules)) return { events, text, changed: false };

  for (const item of rules.items) {
    const rule = ruleToPin(item, issuers, events);
    if (rule === undefined) continue;
    const githubApi = options.githubApiUrl ?? githubApiFor(rule.issuerUrl);
    await pinGitHub(rule, lookup, githubApi);
    await pinGitLab(rule, lookup, options.gitlabUrl ?? rule.issuerUrl);
    reportUnpinnable(rule);
  }
  const changed = events.some((event) => event.kind === 'added');
  return { events, text: changed ? document.toString() : text, changed };
}
