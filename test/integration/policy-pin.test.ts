/** policy pin against a loopback server that answers as GitHub's and GitLab's REST APIs document. */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/broker/policy/load-policy.js';
import { main } from '../../src/cli/main.js';

let server: Server;
let base: string;
const requests: { url: string; auth: string | undefined }[] = [];

const routes: Record<string, unknown> = {
  // GitHub: GET /repos/{owner}/{repo} and GET /users/{username}
  '/github/repos/acme/api': {
    id: 98765,
    name: 'api',
    full_name: 'acme/api',
    owner: { login: 'acme', id: 1234, type: 'Organization' },
  },
  '/github/repos/acme/old-name': {
    id: 555,
    name: 'new-name',
    full_name: 'acme/new-name',
    owner: { login: 'acme', id: 1234, type: 'Organization' },
  },
  '/github/users/acme': { login: 'acme', id: 1234, type: 'Organization' },
  // GitLab: GET /api/v4/projects/:id and GET /api/v4/namespaces/:id, with URL-encoded paths
  '/gitlab/api/v4/projects/acme%2Fweb': {
    id: 4242,
    path_with_namespace: 'acme/web',
    namespace: { id: 77, full_path: 'acme', kind: 'group' },
  },
  '/gitlab/api/v4/namespaces/acme': { id: 77, full_path: 'acme', kind: 'group' },
};

beforeAll(async () => {
  server = createServer((request, response) => {
    requests.push({
      url: request.url ?? '',
      auth: request.headers.authorization ?? (request.headers['private-token'] as string | undefined),
    });
    const body = routes[request.url ?? ''];
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body ?? { message: 'Not Found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const POLICY = `# Pinned by hand? No: by secrets-broker policy pin.
version: 1
audience: https://secrets.example.com
issuers:
  github:
    url: https://token.actions.githubusercontent.com
  gitlab:
    url: https://gitlab.example.com
rules:
  # The API's production deploys.
  - name: api-deploy
    issuer: github
    claims:
      repository: acme/api # the repository
      environment: production
    secrets: [prod/api/*]
  - name: org-tools
    issuer: github
    claims: { repository_owner: acme, job_workflow_ref: acme/tools/.github/workflows/t.yml@refs/heads/main }
    secrets: [tools/*]
  - name: web-deploy
    issuer: gitlab
    claims:
      project_path: acme/web
      ref_protected: 'true'
    secrets: [prod/web/*]
  - name: group-wide
    issuer: gitlab
    claims:
      namespace_path: acme
      environment: production
    secrets: [shared/*]
`;

async function pin(file: string, ...flags: string[]) {
  const out: Buffer[] = [];
  const code = await main(
    ['policy', 'pin', file, '--github-api-url', `${base}/github`, '--gitlab-url', `${base}/gitlab`, ...flags],
    {
      stdin: Readable.from([]),
      stdout: new PassThrough().on('data', (chunk: Buffer) => out.push(chunk)),
      stderr: new PassThrough(),
      environment: { GITHUB_TOKEN: 'ghp_test', GITLAB_TOKEN: 'glpat_test' },
    },
  );
  return { code, stdout: Buffer.concat(out).toString() };
}

async function policyFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'pin-')), 'policy.yaml');
  await writeFile(file, text);
  return file;
}

describe('policy pin', () => {
  it('--check reports every missing id and changes nothing', async () => {
    const file = await policyFile(POLICY);
    const result = await pin(file, '--check');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'rule "api-deploy": missing: repository_id: "98765" (repository acme/api)',
    );
    expect(result.stdout).toContain(`${file}: 6 id(s) missing, 0 problem(s)`);
    expect(await readFile(file, 'utf8')).toBe(POLICY);
  });

  it('writes the ids of repositories, owners, projects and groups, keeping comments and layout', async () => {
    const file = await policyFile(POLICY);
    const result = await pin(file);
    expect(result.code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('# Pinned by hand? No: by secrets-broker policy pin.');
    expect(text).toContain("  # The API's production deploys.");
    expect(text).toContain('repository: acme/api # the repository');
    const policy = await loadPolicyFile(file);
    const claimsOf = (name: string) =>
      Object.fromEntries(
        policy.rules.find((rule) => rule.name === name)!.claims.map((claim) => [claim.claim, claim.spec]),
      );
    expect(claimsOf('api-deploy')).toMatchObject({ repository_id: '98765', repository_owner_id: '1234' });
    expect(claimsOf('org-tools')).toMatchObject({ repository_owner_id: '1234' });
    expect(claimsOf('web-deploy')).toMatchObject({ project_id: '4242', namespace_id: '77' });
    expect(claimsOf('group-wide')).toMatchObject({ namespace_id: '77' });
    expect(text).toContain('repository_id: "98765"');
    expect((await pin(file, '--check')).code).toBe(0);
    expect(
      requests.some(
        (request) => request.url === '/gitlab/api/v4/projects/acme%2Fweb' && request.auth === 'glpat_test',
      ),
    ).toBe(true);
    expect(
      requests.some(
        (request) => request.url === '/github/repos/acme/api' && request.auth === 'Bearer ghp_test',
      ),
    ).toBe(true);
  });

  it('reports a repository whose name now maps to another id, and a renamed one, without overwriting', async () => {
    const text = POLICY.replace(
      'repository: acme/api # the repository',
      'repository: acme/old-name\n      repository_id: "98765"',
    );
    const file = await policyFile(text);
    const result = await pin(file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'rule "api-deploy": renamed: repository acme/old-name is now acme/new-name',
    );
    expect(result.stdout).toContain(
      'rule "api-deploy": mismatch: repository acme/old-name is now id 555, but the rule pins repository_id: "98765"',
    );
    expect(await readFile(file, 'utf8')).toContain('repository_id: "98765"');
  });

  it('reports names it cannot find', async () => {
    const file = await policyFile(POLICY.replace('acme/web', 'acme/missing'));
    const result = await pin(file, '--check');
    expect(result.stdout).toContain(
      'rule "web-deploy": failed: GitLab project acme/missing not found (or not visible with this token)',
    );
  });
});
