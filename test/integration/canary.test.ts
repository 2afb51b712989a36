/**
 * Plants unique canary values, drives them through every exchange and admin path of a broker running as its
 * own process, then scans everything that left it for the canaries in plain text, hex and base64.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/broker/broker.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { BROKER_CLI, Child, run, unconfiguredEnvironment } from '../helpers/child-process.js';
import { newRecipient, openSealed, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { githubClaims, gitlabClaims, TestIssuer } from '../helpers/oidc-issuer.js';

const values = {
  single: canary('single'),
  multiLine: `${canary('line1')}\n${canary('line2')}\n`,
  json: JSON.stringify({ user: 'deploy', password: canary('json') }),
  unicode: `${canary('unicode')}-pässwörd-🔑`,
  notGranted: canary('not-granted'),
  tampered: canary('tampered'),
  dryRun: canary('dry-run'),
  gitlab: canary('gitlab'),
};
const allValues = Object.values(values);

let github: TestIssuer;
let gitlab: TestIssuer;
let broker: Child;
let dataDir: string;
let url: string;
let adminToken: string;
const outputs: Record<string, string> = {};
const responses: string[] = [];

async function post(token: string, secrets: string[], recipient = newRecipient()) {
  const response = await fetch(`${url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ recipient: recipient.publicKey.toString('base64'), secrets }),
  });
  const text = await response.text();
  responses.push(text);
  return { status: response.status, json: JSON.parse(text) as Record<string, unknown> };
}

async function admin(method: string, path: string, body?: unknown) {
  const response = await fetch(`${url}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  responses.push(text);
  return { status: response.status, json: JSON.parse(text) as Record<string, unknown> };
}

async function cli(args: string[], stdin?: string) {
  const result = await run('node', [...BROKER_CLI, ...args], {
    stdin,
    env: { ...process.env, SECRETS_BROKER_URL: url, SECRETS_BROKER_ADMIN_TOKEN: adminToken },
  });
  outputs[`cli ${args.join(' ')} (stdout)`] = result.stdout;
  outputs[`cli ${args.join(' ')} (stderr)`] = result.stderr;
  return result;
}

const githubToken = (overrides: Record<string, unknown> = {}) =>
  github.token(githubClaims(github.url, TEST_AUDIENCE, overrides));

beforeAll(async () => {
  github = await new TestIssuer().start();
  gitlab = await new TestIssuer().start();
  dataDir = await mkdtemp(join(tmpdir(), 'canary-'));
  await writeFile(join(dataDir, 'policy.yaml'), testPolicy(github.url, gitlab.url));
  const environment = unconfiguredEnvironment();
  // No master key and no admin token: the embedded defaults (generated key file, bootstrap token) are used.
  broker = new Child(
    'node',
    [...BROKER_CLI, 'serve', '--policy', join(dataDir, 'policy.yaml'), '--data-dir', dataDir, '--port', '0'],
    {
      env: { ...environment, SECRETS_BROKER_LOG_LEVEL: 'debug' },
    },
  );
  url = (await broker.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]!;
  adminToken = (await broker.waitFor(/export SECRETS_BROKER_ADMIN_TOKEN=(\S+)/))[1]!;
});

afterAll(async () => {
  await broker?.stop();
  await github?.stop();
  await gitlab?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe('canary values never leave the broker in clear', () => {
  it('drives every path, then finds no canary in any output, response, audit record or database file', async () => {
    expect((await cli(['secret', 'set', 'prod/api/SINGLE', '--from-stdin'], values.single)).code).toBe(0);
    expect((await cli(['secret', 'set', 'prod/api/MULTI', '--from-stdin'], values.multiLine)).code).toBe(0);
    expect((await cli(['secret', 'set', 'prod/api/JSON', '--value', values.json])).code).toBe(0);
    expect((await cli(['secret', 'set', 'prod/api/UNICODE', '--from-env', 'UNICODE_VALUE'])).code).toBe(1); // unset: refused
    expect((await admin('PUT', '/secrets/prod/api/UNICODE', { value: values.unicode })).status).toBe(201);
    expect((await admin('PUT', '/secrets/other/NOT_GRANTED', { value: values.notGranted })).status).toBe(201);
    expect((await admin('PUT', '/secrets/prod/api/TAMPERED', { value: values.tampered })).status).toBe(201);
    expect((await admin('PUT', '/secrets/prod/web/KEY', { value: values.gitlab })).status).toBe(201);
    expect(
      (await cli(['secret', 'set', 'prod/api/DRY', '--from-stdin', '--dry-run'], values.dryRun)).code,
    ).toBe(0);
    expect((await cli(['secret', 'list'])).code).toBe(0);
    expect((await admin('PUT', '/secrets/bad%20name', { value: values.single })).status).toBe(400);

    // Allowed: every value opens correctly.
    const recipient = newRecipient();
    const allowed = await post(
      await githubToken(),
      ['prod/api/SINGLE', 'prod/api/MULTI', 'prod/api/JSON', 'prod/api/UNICODE'],
      recipient,
    );
    expect(allowed.status).toBe(200);
    const opened = (allowed.json.secrets as { sealed: string }[]).map(
      (entry) => (openSealed(entry.sealed, recipient) as { value: string }).value,
    );
    expect(opened).toEqual([values.single, values.multiLine, values.json, values.unicode]);
    const viaGitlab = await post(await gitlab.token(gitlabClaims(gitlab.url, TEST_AUDIENCE)), [
      'prod/web/**',
    ]);
    expect(viaGitlab.status).toBe(200);

    // Denied, replayed, missing, invalid and optional paths.
    expect((await post(await githubToken(), ['other/NOT_GRANTED', 'prod/api/SINGLE'])).status).toBe(403);
    expect((await post(await githubToken({ environment: 'staging' }), ['prod/api/SINGLE'])).status).toBe(403);
    const token = await githubToken();
    expect((await post(token, ['prod/api/SINGLE'])).status).toBe(200);
    expect((await post(token, ['prod/api/SINGLE'])).status).toBe(401);
    expect((await post(await githubToken(), ['prod/api/SINGLE', 'prod/api/MISSING'])).status).toBe(404);
    expect(
      (await post(await githubToken({ aud: 'https://github.com/acme' }), ['prod/api/SINGLE'])).status,
    ).toBe(401);
    expect((await post(await githubToken(), ['prod/api/*', 'other/*?'])).status).toBe(200);

    // A tampered row: refused with an integrity error that names the secret, never its value.
    const database = new Database(join(dataDir, DATABASE_FILE));
    database
      .prepare(
        `UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE name = 'prod/api/SINGLE')
         WHERE name = 'prod/api/TAMPERED'`,
      )
      .run();
    database.close();
    expect((await post(await githubToken(), ['prod/api/TAMPERED'])).status).toBe(503);
    expect((await admin('DELETE', '/secrets/prod/api/JSON')).status).toBe(200);

    await broker.stop();
    outputs['broker stdout'] = broker.stdout;
    outputs['broker stderr'] = broker.stderr;
    outputs['responses'] = responses.join('\n');
    const audit = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
    const records = audit.prepare('SELECT record FROM audit_log').all() as { record: string }[];
    audit.close();
    expect(records.length).toBeGreaterThan(15);
    outputs['audit records'] = records.map((row) => row.record).join('\n');

    const files: Record<string, Buffer> = {};
    for (const file of await readdir(dataDir)) files[`file ${file}`] = await readFile(join(dataDir, file));
    expect(Object.keys(files)).toContain(`file ${DATABASE_FILE}`);

    // The scan is only meaningful if the outputs are real: the broker logged the exchanges and the audit trail.
    expect(broker.stdout).toContain('"msg":"audit exchange allowed"');
    expect(broker.stdout).toContain('failed authentication');
    expect(broker.stderr).toContain('First start');
    expect(findLeaks(allValues, { ...outputs, ...files })).toEqual([]);
  });
});
