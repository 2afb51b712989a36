/**
 * The component project's release pipeline (.gitlab-ci.yml, .gitlab/release.gitlab-ci.yml): on a tag X.Y.Z it
 * publishes the committed dist/secrets-fetch.js and its SHA-256 as the generic package that the component
 * downloads. Run by gitlab-ci-local (schema validation on, shell executor); a local HTTP server on 127.0.0.1 plays
 * the GitLab API (CI_SERVER_URL points at it, so CI_API_V4_URL does) and keeps what it is sent, so a component
 * job can then download it with the published checksum.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT } from '../helpers/child-process.js';
import { EXAMPLE_SCRIPTS, examplePipeline, GitlabProject, type JobRun } from '../helpers/gitlab-project.js';

const JOB_TOKEN = `job-token-${randomBytes(16).toString('hex')}`;
const PROJECT_ID = '4242';
const PROJECT_PATH = 'org/secrets-action';
/** Where the component's default download looks: the project by its path, as the fetch_project input names it. */
const PACKAGE_PREFIX = `/api/v4/projects/${encodeURIComponent(PROJECT_PATH)}/packages/generic/secrets-fetch/`;
const PACKAGE_PATH = /^\/api\/v4\/projects\/([^/]+)\/packages\/generic\/secrets-fetch\/([^/]+)\/([^/]+)$/;

interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly jobToken: string | undefined;
}

/**
 * The GitLab API's generic package endpoints for one project, known by its id and by its URL-encoded path (as
 * GitLab accepts either): PUT and GET need the job token. Records every request.
 */
class FakeGitlab {
  readonly seen: SeenRequest[] = [];
  /** Stored files by the path the component downloads them from (project by path). */
  readonly files = new Map<string, Buffer>();
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((request, response) => void this.handle(request, response));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  clear(): void {
    this.seen.length = 0;
    this.files.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const jobToken = request.headers['job-token'];
    const path = request.url ?? '';
    this.seen.push({
      method: request.method ?? '',
      path,
      jobToken: typeof jobToken === 'string' ? jobToken : undefined,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const match = PACKAGE_PATH.exec(path);
    if (match === null || (match[1] !== PROJECT_ID && match[1] !== encodeURIComponent(PROJECT_PATH))) {
      response.writeHead(404).end('{"message":"404 Project Not Found"}');
      return;
    }
    if (jobToken !== JOB_TOKEN) {
      response.writeHead(401).end('{"message":"401 Unauthorized"}');
      return;
    }
    const key = `${PACKAGE_PREFIX}${match[2]}/${match[3]}`;
    if (request.method === 'PUT') {
      this.files.set(key, Buffer.concat(chunks));
      response.writeHead(201, { 'content-type': 'application/json' }).end('{"message":"201 Created"}');
      return;
    }
    const file = this.files.get(key);
    if (request.method === 'GET' && file !== undefined) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(file);
    } else {
      response.writeHead(404).end('{"message":"404 Not Found"}');
    }
  }
}

let harness: BrokerHarness;
let project: GitlabProject;
const gitlab = new FakeGitlab();
let secretsFetch: Buffer;
const values = { db: canary('release-db'), token: canary('release-token') };

/**
 * The example pipeline (the component from the project's own commit) plus what this repository's .gitlab-ci.yml
 * includes, and the stages the release jobs use.
 */
async function releasePipeline(): Promise<string> {
  const root = parse(await readFile(join(REPO_ROOT, '.gitlab-ci.yml'), 'utf8')) as {
    include: { local: string }[];
  };
  const includes = root.include.map((entry) => `  - local: ${entry.local}\n`).join('');
  const example = (await examplePipeline())
    .replace(/^include:\n/m, `include:\n${includes}`)
    .replace(/^stages: \[deploy\]$/m, 'stages: [test, deploy]');
  expect(example).toContain('stages: [test, deploy]');
  return `${example}\nround-trip:\n  stage: deploy\n  extends: .secrets-action\n  script:\n    - ./deploy.sh\n`;
}

beforeAll(async () => {
  secretsFetch = await readFile(join(REPO_ROOT, 'dist/secrets-fetch.js'));
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.token);
  await gitlab.start();
  project = await GitlabProject.create(harness, await releasePipeline(), {
    ...EXAMPLE_SCRIPTS,
    '.gitlab/release.gitlab-ci.yml': await readFile(join(REPO_ROOT, '.gitlab/release.gitlab-ci.yml'), 'utf8'),
  });
});

beforeEach(() => gitlab.clear());

afterAll(async () => {
  await gitlab.close();
  await harness?.close();
});

/** Runs the package job as a tag pipeline would, against the fake GitLab API. */
function publish(
  tag: string,
  variables: Readonly<Record<string, string>> = { CI_JOB_TOKEN: JOB_TOKEN },
): Promise<JobRun> {
  return project.runJob('secrets-fetch-package', {
    pipelineVariables: {
      CI_SERVER_URL: gitlab.url,
      CI_PROJECT_ID: PROJECT_ID,
      CI_COMMIT_TAG: tag,
      ...variables,
    },
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('GitLab release: publishing secrets-fetch for the component', () => {
  it('on a tag X.Y.Z uploads dist/secrets-fetch.js and its SHA-256 with the job token, where the component downloads them', async () => {
    const run = await publish('1.2.3');
    expect(run.code, run.log).toBe(0);
    expect(run.log).toContain('json schema validated');
    const uploadPrefix = `/api/v4/projects/${PROJECT_ID}/packages/generic/secrets-fetch/1.2.3/`;
    expect(gitlab.seen).toEqual([
      { method: 'PUT', path: `${uploadPrefix}secrets-fetch.js`, jobToken: JOB_TOKEN },
      { method: 'PUT', path: `${uploadPrefix}secrets-fetch.js.sha256`, jobToken: JOB_TOKEN },
    ]);
    expect(gitlab.files.get(`${PACKAGE_PREFIX}1.2.3/secrets-fetch.js`)?.equals(secretsFetch)).toBe(true);
    expect(gitlab.files.get(`${PACKAGE_PREFIX}1.2.3/secrets-fetch.js.sha256`)?.toString()).toBe(
      `${sha256(secretsFetch)}  secrets-fetch.js\n`,
    );
    expect(run.log).toContain(sha256(secretsFetch));
    expect(run.log).not.toContain(JOB_TOKEN);
  });

  it('a tag that is not a semantic version (a leading v) fails the job, saying so, and uploads nothing', async () => {
    const run = await publish('v1.2.3');
    expect(run.code, run.log).not.toBe(0);
    expect(run.log).toContain(
      'release: the tag v1.2.3 is not a semantic version X.Y.Z (no leading v), so no include resolves to it',
    );
    expect(gitlab.seen).toEqual([]);
  });

  it("without the job token GitLab's 401 fails the job and nothing is stored", async () => {
    const run = await publish('1.2.4', {});
    expect(run.code, run.log).not.toBe(0);
    expect(run.log).toContain('401');
    expect(gitlab.seen).toHaveLength(1);
    expect(gitlab.files.size).toBe(0);
  });

  it('the published file passes the component download with the published checksum (round trip)', async () => {
    expect((await publish('1.3.0')).code).toBe(0);
    const published = gitlab.files.get(`${PACKAGE_PREFIX}1.3.0/secrets-fetch.js.sha256`)?.toString() ?? '';
    const checksum = published.split(' ')[0] ?? '';
    gitlab.seen.length = 0;
    // gitlab-ci-local gives a component included from its own commit that commit as component.version, so the
    // release's package address is given as fetch_url; it is on the GitLab origin, so it gets the job token.
    const run = await project.runJob('round-trip', {
      inputs: {
        fetch_project: PROJECT_PATH,
        fetch_url: `${gitlab.url}${PACKAGE_PREFIX}1.3.0/secrets-fetch.js`,
        fetch_sha256: checksum,
      },
      pipelineVariables: { CI_SERVER_URL: gitlab.url, CI_JOB_TOKEN: JOB_TOKEN },
    });
    expect(run.code, run.log).toBe(0);
    expect(gitlab.seen).toEqual([
      { method: 'GET', path: `${PACKAGE_PREFIX}1.3.0/secrets-fetch.js`, jobToken: JOB_TOKEN },
    ]);
    expect(await readFile(join(project.dir, 'proof-round-trip-db'), 'utf8')).toBe(values.db);
    expect(findLeaks(Object.values(values), { 'job log': run.log })).toEqual([]);
  });
});
