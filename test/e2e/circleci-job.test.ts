/**
 * examples/circleci/config.yml's run step, taken from the file and run as CircleCI runs it (bash -eo pipefail),
 * against the real broker with the CircleCI rule of examples/policy.yaml and a CircleCI-shaped issuer: its URL
 * ends in /org/ORG_ID, its tokens carry CircleCI's claims and no jti. `circleci run oidc get` is a stand-in that
 * hands out tokens minted by that issuer and records the claims it was asked for.
 */
import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { lintPolicy } from '../../src/broker/policy/lint.js';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT, run } from '../helpers/child-process.js';
import type { Claims } from '../helpers/oidc-issuer.js';
import { withFakeServer } from '../helpers/fake-server.js';

const CONFIG = join(REPO_ROOT, 'examples/circleci/config.yml');
const FETCH = join(REPO_ROOT, 'dist/secrets-fetch.js');

/** examples/policy.yaml with its commented CircleCI example in force: "# " removed before indented YAML. */
async function examplePolicyWithCircleci(): Promise<string> {
  return (await readFile(join(REPO_ROOT, 'examples/policy.yaml'), 'utf8')).replace(/^# (?= {2})/gm, '');
}

interface RunStep {
  readonly command: string;
  readonly environment: Record<string, string>;
}

interface Config {
  version: number;
  jobs: { deploy: { docker: { image: string }[]; steps: unknown[] } };
  workflows: { deploy: { jobs: { deploy: { context: string[]; filters: unknown } }[] } };
}

/** A CircleCI issuer in small: oauth2-mock-server served under /org/ORG_ID, as oidc.circleci.com serves it. */
class CircleciIssuer {
  readonly issuer = new OAuth2Issuer();
  private server: Server | undefined;

  async start(orgId: string): Promise<this> {
    await this.issuer.keys.generate('RS256', { kid: 'circleci-1' });
    const handler = new OAuth2Service(this.issuer).requestHandler;
    const prefix = `/org/${orgId}`;
    this.server = createServer((request, response) => {
      if (!request.url?.startsWith(`${prefix}/`)) {
        response.writeHead(404).end();
        return;
      }
      request.url = request.url.slice(prefix.length);
      handler(request, response);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.issuer.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${prefix}`;
    return this;
  }

  get url(): string {
    return this.issuer.url as string;
  }

  /** A token as CircleCI signs it: `claims` replace the defaults; undefined values delete. */
  token(claims: Claims): Promise<string> {
    return this.issuer.buildToken({
      kid: 'circleci-1',
      expiresIn: 3600,
      scopesOrTransform: (_header, payload) => {
        for (const [key, value] of Object.entries(claims)) {
          if (value === undefined) Reflect.deleteProperty(payload, key);
          else payload[key] = value;
        }
      },
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }
}

const values = { db: canary('circleci-db'), token: canary('circleci-token') };
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

let harness: BrokerHarness;
let circleci: CircleciIssuer;
let config: Config;
let step: RunStep;
/** The ids the example policy's CircleCI issuer and rule name. */
let ids: { org: string; project: string; context: string };
let workRoot: string;
/** The SHA-256 of dist/secrets-fetch.js, the release the job downloads. */
let fetchSha: string;

beforeAll(async () => {
  config = parse(await readFile(CONFIG, 'utf8')) as Config;
  const runs = config.jobs.deploy.steps.filter(
    (candidate): candidate is { run: RunStep } => typeof candidate === 'object' && candidate !== null,
  );
  expect(runs).toHaveLength(1);
  step = runs[0]!.run;
  const example = parse(await examplePolicyWithCircleci()) as {
    issuers: { circleci: { url: string } };
    rules: { name: string; claims: Record<string, string> }[];
  };
  const rule = example.rules.find((candidate) => candidate.name === 'api-deploy-circleci')!;
  ids = {
    org: example.issuers.circleci.url.slice('https://oidc.circleci.com/org/'.length),
    project: rule.claims['oidc.circleci.com/project-id']!,
    context: rule.claims['oidc.circleci.com/context-ids']!,
  };
  circleci = await new CircleciIssuer().start(ids.org);
  const policy = (await examplePolicyWithCircleci())
    .replace(`https://oidc.circleci.com/org/${ids.org}`, circleci.url)
    .replace('url: https://token.actions.githubusercontent.com', 'url: GITHUB_URL')
    .replace('url: https://gitlab.com', 'url: GITLAB_URL');
  harness = await BrokerHarness.start({
    policy: (github, gitlab) => policy.replace('GITHUB_URL', github).replace('GITLAB_URL', gitlab),
  });
  await harness.setSecret('circleci/api/DB_PASSWORD', values.db);
  await harness.setSecret('circleci/api/token', values.token);
  workRoot = await mkdtemp(join(tmpdir(), 'circleci-'));
  fetchSha = sha256(await readFile(FETCH));
});

afterAll(async () => {
  await harness?.close();
  await circleci?.stop();
  if (workRoot !== undefined) await rm(workRoot, { recursive: true, force: true });
});

/** The claims of a CircleCI job token (the V2 subject), of the example's project, context and main branch. */
function jobClaims(audience: string, overrides: Claims = {}): Claims {
  const iat = Math.floor(Date.now() / 1000);
  return {
    iss: circleci.url,
    sub: `org/${ids.org}/project/${ids.project}/user/${randomUUID()}/vcs-origin/github.com/acme/api/vcs-ref/refs/heads/main`,
    aud: audience,
    iat,
    nbf: undefined,
    jti: undefined,
    'oidc.circleci.com/org-id': ids.org,
    'oidc.circleci.com/project-id': ids.project,
    'oidc.circleci.com/context-ids': [ids.context],
    'oidc.circleci.com/vcs-origin': 'github.com/acme/api',
    'oidc.circleci.com/vcs-ref': 'refs/heads/main',
    'oidc.circleci.com/ssh-rerun': false,
    'oidc.circleci.com/pipeline-id': randomUUID(),
    ...overrides,
  };
}

/** The job's checkout: deploy.sh shows what it got, its parent's tools: the stand-in circleci CLI, node. */
async function job(tokens: readonly string[]): Promise<{ dir: string; env: NodeJS.ProcessEnv; log: string }> {
  const dir = await mkdtemp(join(workRoot, 'job-'));
  const bin = join(dir, '.bin');
  const minted = join(dir, '.minted');
  await mkdir(bin);
  await mkdir(minted);
  await mkdir(join(dir, 'tmp'));
  for (const [index, token] of tokens.entries()) await writeFile(join(minted, String(index + 1)), token);
  const log = join(dir, '.circleci-claims');
  await writeFile(
    join(bin, 'circleci'),
    [
      '#!/bin/sh',
      'set -eu',
      '[ "$#" -eq 5 ] && [ "$1 $2 $3 $4" = "run oidc get --claims" ] || { echo "circleci: unexpected $*" >&2; exit 64; }',
      `printf '%s\\n' "$5" >> '${log}'`,
      `cat '${minted}/'"$(wc -l < '${log}' | tr -d ' ')"`,
    ].join('\n'),
  );
  await chmod(join(bin, 'circleci'), 0o755);
  await writeFile(
    join(dir, 'deploy.sh'),
    [
      '#!/bin/sh',
      ': > deployed',
      'printf "%s\\n" "$DB_PASSWORD" "$API_TOKEN"',
      'printf "%s" "$DB_PASSWORD" | sha256sum',
      'printf "%s" "$API_TOKEN" | sha256sum',
    ].join('\n'),
  );
  await chmod(join(dir, 'deploy.sh'), 0o755);
  // CircleCI's own tokens are there too, with its default audience (the organization id): the job must not use them.
  const defaultToken = await circleci.token(jobClaims(ids.org));
  return {
    dir,
    log,
    env: {
      PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: dir,
      TMPDIR: join(dir, 'tmp'),
      CIRCLECI: 'true',
      CIRCLE_OIDC_TOKEN: defaultToken,
      CIRCLE_OIDC_TOKEN_V2: defaultToken,
    },
  };
}

/** Runs the config's step as CircleCI does, its environment as written but for where the broker and download are. */
async function runStep(
  context: { dir: string; env: NodeJS.ProcessEnv },
  changes: Partial<Record<'SECRETS_FETCH_BROKER' | 'SECRETS_FETCH_URL' | 'SECRETS_FETCH_SHA256', string>>,
) {
  for (const name of Object.keys(changes)) expect(step.environment).toHaveProperty(name);
  return run('bash', ['-eo', 'pipefail', '-c', step.command], {
    cwd: context.dir,
    env: { ...context.env, ...step.environment, ...changes },
  });
}

/** Serves dist/secrets-fetch.js as a release would, counting downloads, for the length of `use`. */
async function withRelease<T>(use: (url: string, downloads: () => number) => Promise<T>): Promise<T> {
  const file = await readFile(FETCH);
  let downloads = 0;
  return withFakeServer(
    (_request, response) => {
      downloads += 1;
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(file);
    },
    (url) => use(`${url}/secrets-fetch.js`, () => downloads),
  );
}

const fileAbsent = (path: string) => expect(readFile(path)).rejects.toThrow('ENOENT');

describe('the example CircleCI job', () => {
  it('checks secrets-fetch, mints tokens for the broker, and runs deploy.sh with its secrets redacted', async () => {
    const audience = step.environment.SECRETS_FETCH_AUDIENCE!;
    const tokens = await Promise.all([1, 2, 3].map(() => circleci.token(jobClaims(audience))));
    const context = await job(tokens);
    const result = await withRelease((url) =>
      runStep(context, {
        SECRETS_FETCH_BROKER: harness.url,
        SECRETS_FETCH_URL: url,
        SECRETS_FETCH_SHA256: fetchSha,
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`***\n***\n${sha256(values.db)}  -\n${sha256(values.token)}  -\n`);
    expect(result.stderr).toContain(
      'secrets-fetch: released circleci/api/DB_PASSWORD v1 as DB_PASSWORD, circleci/api/token v1 as API_TOKEN',
    );
    expect((await readFile(context.log, 'utf8')).split('\n')).toEqual([
      ...Array<string>(3).fill(JSON.stringify({ aud: audience }).replace(':', ': ')),
      '',
    ]);
    // The download went into a temporary directory, gone with the step.
    expect(await readdir(join(context.dir, 'tmp'))).toEqual([]);
    const files: Record<string, Buffer> = {};
    for (const entry of await readdir(workRoot, { recursive: true, withFileTypes: true }))
      if (entry.isFile())
        files[join(entry.parentPath, entry.name)] = await readFile(join(entry.parentPath, entry.name));
    expect(
      findLeaks(Object.values(values), { stdout: result.stdout, stderr: result.stderr, ...files }),
    ).toEqual([]);
  });

  it('runs nothing and mints no token when the download is not the release it names', async () => {
    const context = await job([]);
    const result = await withRelease((url) =>
      runStep(context, {
        SECRETS_FETCH_BROKER: harness.url,
        SECRETS_FETCH_URL: url,
        SECRETS_FETCH_SHA256: 'a'.repeat(64),
      }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `the download has SHA-256 ${fetchSha}, not ${'a'.repeat(64)}: nothing was run and no token was minted\n`,
    );
    await fileAbsent(context.log);
    await fileAbsent(join(context.dir, 'deployed'));
  });

  it('stops at the checksum left as the placeholder, before downloading anything', async () => {
    const context = await job([]);
    const result = await withRelease(async (url, downloads) => {
      const outcome = await runStep(context, { SECRETS_FETCH_BROKER: harness.url, SECRETS_FETCH_URL: url });
      expect(downloads()).toBe(0);
      return outcome;
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('SECRETS_FETCH_SHA256 must be 64 lowercase hex digits from the release\n');
    await fileAbsent(context.log);
  });

  it.each([
    ['another project', { 'oidc.circleci.com/project-id': randomUUID() }],
    ['another branch', { 'oidc.circleci.com/vcs-ref': 'refs/heads/feature' }],
    ['a re-run with SSH', { 'oidc.circleci.com/ssh-rerun': true }],
    ['another context', { 'oidc.circleci.com/context-ids': [randomUUID()] }],
  ])('is refused for %s by the example rule, and deploy.sh does not run', async (_name, overrides) => {
    const audience = step.environment.SECRETS_FETCH_AUDIENCE!;
    const context = await job(
      await Promise.all([1, 2, 3].map(() => circleci.token(jobClaims(audience, overrides)))),
    );
    const result = await withRelease((url) =>
      runStep(context, {
        SECRETS_FETCH_BROKER: harness.url,
        SECRETS_FETCH_URL: url,
        SECRETS_FETCH_SHA256: fetchSha,
      }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      '(policy_denied): not granted to this workload: circleci/api/DB_PASSWORD',
    );
    expect(result.stderr).toContain(`claim "${Object.keys(overrides)[0]}" is`);
    expect(result.stdout).toBe('');
    await fileAbsent(join(context.dir, 'deployed'));
  });

  it('is valid CircleCI 2.1 configuration whose workflow gives the job a context, on main only', () => {
    expect(config.version).toBe(2.1);
    expect(config.jobs.deploy.steps[0]).toBe('checkout');
    expect(config.jobs.deploy.docker[0]!.image).toMatch(/^cimg\/node:\d+\.\d+\.\d+$/);
    const [entry] = config.workflows.deploy.jobs;
    expect(entry!.deploy.context).toEqual(['secrets-broker']);
    expect(entry!.deploy.filters).toEqual({ branches: { only: 'main' } });
  });
});

describe("examples/policy.yaml's CircleCI example", () => {
  it('is valid and lint-clean when uncommented, with single use by the signed token', async () => {
    const policy = parsePolicy(await examplePolicyWithCircleci(), 'examples/policy.yaml');
    expect(policy.issuers.get('circleci')).toMatchObject({ replayKey: 'token' });
    expect(lintPolicy(policy)).toEqual([]);
  });
});
