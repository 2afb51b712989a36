/**
 * How the GitLab component gets secrets-fetch: from the release's generic package on the GitLab instance with the
 * job's CI_JOB_TOKEN, or from a mirror without it, and only if its SHA-256 equals fetch_sha256, before anything
 * runs. Run by gitlab-ci-local (schema validation on, shell executor) against the real broker; a local HTTP server
 * on 127.0.0.1 plays the GitLab instance (CI_SERVER_URL points at it) and another one a mirror.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { REPO_ROOT } from '../helpers/child-process.js';
import {
  EXAMPLE_SCRIPTS,
  examplePipeline,
  GitlabProject,
  secretsFetchSha256,
  type JobRun,
} from '../helpers/gitlab-project.js';

interface SeenRequest {
  readonly path: string;
  readonly jobToken: string | undefined;
}

/** An HTTP server on 127.0.0.1 that records every request and answers as `handler` says. */
class RecordingServer {
  readonly seen: SeenRequest[] = [];
  readonly server: Server;
  url = '';

  private constructor(handler: (request: IncomingMessage, response: ServerResponse) => void) {
    this.server = createServer((request, response) => {
      const jobToken = request.headers['job-token'];
      this.seen.push({
        path: request.url ?? '',
        jobToken: typeof jobToken === 'string' ? jobToken : undefined,
      });
      handler(request, response);
    });
  }

  static async start(
    handler: (request: IncomingMessage, response: ServerResponse) => void,
  ): Promise<RecordingServer> {
    const recording = new RecordingServer(handler);
    await new Promise<void>((resolve) => recording.server.listen(0, '127.0.0.1', resolve));
    recording.url = `http://127.0.0.1:${(recording.server.address() as AddressInfo).port}`;
    return recording;
  }

  clear(): void {
    this.seen.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const JOB_TOKEN = `job-token-${randomBytes(16).toString('hex')}`;
const PACKAGE_PREFIX = '/api/v4/projects/org%2Fsecrets-action/packages/generic/secrets-fetch/';
const DOWNLOAD_JOBS = [
  'fetch-release',
  'fetch-bad-checksum',
  'fetch-html',
  'fetch-missing',
  'fetch-no-token',
  'fetch-no-project',
  'fetch-mirror',
  'fetch-redirect',
  'fetch-bounce',
  'fetch-overridden',
];

/** What someone who may set pipeline variables would rather have run: it proves it ran by writing a file. */
const FOREIGN_BUILD = Buffer.from(
  'import { writeFileSync } from "node:fs";\nwriteFileSync("proof-foreign-build-ran", "ran");\n',
);

let harness: BrokerHarness;
let project: GitlabProject;
let gitlab: RecordingServer;
let mirror: RecordingServer;
/** Stands in for the broker in the jobs that must fail: any request it gets means a token left the job. */
let trapBroker: RecordingServer;
let secretsFetch: Buffer;
let sha256: string;
let packagePath: string;
const values = { db: canary('gitlab-db'), token: canary('gitlab-token') };

beforeAll(async () => {
  secretsFetch = await readFile(join(REPO_ROOT, 'dist/secrets-fetch.js'));
  sha256 = await secretsFetchSha256();
  harness = await BrokerHarness.start();
  await harness.setSecret('prod/web/DB_PASSWORD', values.db);
  await harness.setSecret('prod/web/token', values.token);
  const jobs = DOWNLOAD_JOBS.map(
    (job) => `${job}:\n  stage: deploy\n  extends: .secrets-action\n  script:\n    - ./deploy.sh\n`,
  );
  project = await GitlabProject.create(
    harness,
    `${await examplePipeline()}\n${jobs.join('\n')}`,
    EXAMPLE_SCRIPTS,
  );
  // gitlab-ci-local gives a component included from the project's own commit that commit as its version.
  packagePath = `${PACKAGE_PREFIX}${await project.commitSha()}/secrets-fetch.js`;
  mirror = await RecordingServer.start((request, response) => {
    // A mirror that sends the download back to the GitLab instance: the job token must not follow it there.
    if (request.url === '/bounce') response.writeHead(302, { location: `${gitlab.url}${packagePath}` }).end();
    else if (request.url === '/foreign/secrets-fetch.js')
      response.writeHead(200, { 'content-type': 'application/javascript' }).end(FOREIGN_BUILD);
    else response.writeHead(200, { 'content-type': 'application/javascript' }).end(secretsFetch);
  });
  gitlab = await RecordingServer.start((request, response) => {
    if (request.url === packagePath) {
      if (request.headers['job-token'] !== JOB_TOKEN)
        response.writeHead(401).end('{"message":"401 Unauthorized"}');
      else response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(secretsFetch);
    } else if (request.url === '/users/sign_in') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html>Sign in</html>');
    } else if (request.url === '/to-object-storage') {
      // As GitLab does for a package kept in object storage: a redirect to another host.
      response
        .writeHead(302, { location: `${mirror.url}/bucket/secrets-fetch.js?X-Amz-Signature=abc` })
        .end();
    } else {
      response.writeHead(404).end('{"message":"404 Not Found"}');
    }
  });
  trapBroker = await RecordingServer.start((_request, response) => response.writeHead(500).end());
});

beforeEach(() => {
  for (const server of [gitlab, mirror, trapBroker]) server.clear();
});

afterAll(async () => {
  await Promise.all([gitlab?.close(), mirror?.close(), trapBroker?.close()]);
  await harness?.close();
});

/** Runs `job` with this test's GitLab instance as CI_SERVER_URL and the job token set, as a runner sets them. */
function runDownloadJob(
  job: string,
  inputs: Readonly<Record<string, string>>,
  variables: Readonly<Record<string, string>> = { CI_JOB_TOKEN: JOB_TOKEN },
): Promise<JobRun> {
  return project.runJob(job, {
    inputs: { fetch_project: 'org/secrets-action', ...inputs },
    pipelineVariables: { CI_SERVER_URL: gitlab.url, ...variables },
  });
}

/** A job whose download failed: it says why, its script never started, and no token reached any broker. */
async function expectStoppedBeforeAnythingRan(
  run: JobRun,
  job: string,
  message: string | RegExp,
): Promise<void> {
  expect(run.code, run.log).not.toBe(0);
  expect(run.log).toMatch(typeof message === 'string' ? new RegExp(escapeRegExp(message)) : message);
  expect(run.log).not.toContain('$ ./deploy.sh');
  expect(trapBroker.seen).toEqual([]);
  await expect(access(join(project.dir, `proof-${job}-db`))).rejects.toThrow();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function expectSecrets(run: JobRun, job: string): Promise<void> {
  expect(run.code, run.log).toBe(0);
  expect(await readFile(join(project.dir, `proof-${job}-db`), 'utf8')).toBe(values.db);
  expect(findLeaks(Object.values(values), { 'job log': run.log })).toEqual([]);
  expect(run.log).not.toContain(JOB_TOKEN);
}

describe('GitLab component: downloading secrets-fetch', () => {
  it("gets the release's generic package from the GitLab instance with the job token, checks it and fetches the secrets", async () => {
    const run = await runDownloadJob('fetch-release', { fetch_url: '' });
    expect(run.log).toContain('json schema validated');
    await expectSecrets(run, 'fetch-release');
    expect(gitlab.seen).toEqual([{ path: packagePath, jobToken: JOB_TOKEN }]);
  });

  it('a wrong fetch_sha256 fails the job before its script runs and before any token goes to the broker', async () => {
    const wrong = createHash('sha256').update('another build').digest('hex');
    const run = await runDownloadJob('fetch-bad-checksum', {
      fetch_url: '',
      fetch_sha256: wrong,
      broker_url: trapBroker.url,
    });
    await expectStoppedBeforeAnythingRan(
      run,
      'fetch-bad-checksum',
      `secrets-action: cannot get secrets-fetch: its SHA-256 is ${sha256}, expected ${wrong} (fetch_sha256). Nothing was run.`,
    );
  });

  it("pipeline variables cannot swap the checksum: the include's fetch_sha256 is written into the script", async () => {
    // Pipeline variables outrank the job's variables: with both the address and the checksum in variables, one
    // could bring another build and its matching checksum.
    const foreignSha256 = createHash('sha256').update(FOREIGN_BUILD).digest('hex');
    const run = await runDownloadJob(
      'fetch-overridden',
      { fetch_url: '', broker_url: trapBroker.url },
      {
        CI_JOB_TOKEN: JOB_TOKEN,
        SECRETS_ACTION_FETCH_URL: `${mirror.url}/foreign/secrets-fetch.js`,
        SECRETS_ACTION_FETCH_SHA256: foreignSha256,
      },
    );
    await expectStoppedBeforeAnythingRan(
      run,
      'fetch-overridden',
      `its SHA-256 is ${foreignSha256}, expected ${sha256} (fetch_sha256). Nothing was run.`,
    );
    await expect(access(join(project.dir, 'proof-foreign-build-ran'))).rejects.toThrow();
  });

  it('an HTML answer (a login page) fails the job, saying so, before anything runs', async () => {
    const run = await runDownloadJob('fetch-html', {
      fetch_url: `${gitlab.url}/users/sign_in`,
      broker_url: trapBroker.url,
    });
    await expectStoppedBeforeAnythingRan(
      run,
      'fetch-html',
      `${gitlab.url}/users/sign_in answered with an HTML page (a login or error page?), not secrets-fetch.js`,
    );
  });

  it('an HTTP error fails the job, naming the status and the address', async () => {
    const run = await runDownloadJob('fetch-missing', {
      fetch_url: `${gitlab.url}/nothing-here`,
      broker_url: trapBroker.url,
    });
    await expectStoppedBeforeAnythingRan(
      run,
      'fetch-missing',
      `secrets-action: cannot get secrets-fetch: HTTP 404 from ${gitlab.url}/nothing-here`,
    );
  });

  it("without a job token GitLab's 401 fails the job, pointing at the package and the job token allowlist", async () => {
    const run = await runDownloadJob('fetch-no-token', { fetch_url: '', broker_url: trapBroker.url }, {});
    await expectStoppedBeforeAnythingRan(
      run,
      'fetch-no-token',
      `HTTP 401 from ${gitlab.url}${packagePath}: is the generic package secrets-fetch published for this version, and is this project on the CI/CD job token allowlist of org/secrets-action?`,
    );
  });

  it('with neither fetch_project nor fetch_url the job fails, saying which input to set', async () => {
    const run = await runDownloadJob('fetch-no-project', {
      fetch_url: '',
      fetch_project: '',
      broker_url: trapBroker.url,
    });
    await expectStoppedBeforeAnythingRan(run, 'fetch-no-project', 'the fetch_project input is empty');
    expect(gitlab.seen).toEqual([]);
  });

  it('a mirror on another host gets no job token, and its file is checked the same way', async () => {
    const run = await runDownloadJob('fetch-mirror', { fetch_url: `${mirror.url}/secrets-fetch.js` });
    await expectSecrets(run, 'fetch-mirror');
    expect(mirror.seen).toEqual([{ path: '/secrets-fetch.js', jobToken: undefined }]);
    expect(gitlab.seen).toEqual([]);
  });

  it('a chain that left the GitLab instance never carries the job token again, back on GitLab included', async () => {
    const run = await runDownloadJob('fetch-bounce', {
      fetch_url: `${mirror.url}/bounce`,
      broker_url: trapBroker.url,
    });
    await expectStoppedBeforeAnythingRan(run, 'fetch-bounce', 'HTTP 401');
    expect(mirror.seen).toEqual([{ path: '/bounce', jobToken: undefined }]);
    expect(gitlab.seen).toEqual([{ path: packagePath, jobToken: undefined }]);
  });

  it('a redirect from the GitLab instance to another host does not take the job token along', async () => {
    const run = await runDownloadJob('fetch-redirect', { fetch_url: `${gitlab.url}/to-object-storage` });
    await expectSecrets(run, 'fetch-redirect');
    expect(gitlab.seen).toEqual([{ path: '/to-object-storage', jobToken: JOB_TOKEN }]);
    expect(mirror.seen).toEqual([
      { path: '/bucket/secrets-fetch.js?X-Amz-Signature=abc', jobToken: undefined },
    ]);
  });
});
