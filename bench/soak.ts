/**
 * Soak: mixed traffic (allowed, denied, replayed, malformed exchanges and admin writes) against one broker
 * process for --minutes, with RSS sampled over time and every response, the broker's log and its database
 * files scanned for the planted canary values at the end. Loopback only, bounded in time.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sodium from 'sodium-native';
import { githubClaims, TestIssuer } from '../test/helpers/oidc-issuer.js';
import { canary, leakForms } from '../test/helpers/canary.js';
import { REPO_ROOT } from '../test/helpers/child-process.js';
import { testPolicy } from '../test/helpers/broker-harness.js';
import { freePort } from '../test/helpers/free-port.js';

const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] ?? 5) || 5;
const AUDIENCE = 'https://secrets.test.example';
const WORKERS = 8;

const github = await new TestIssuer().start();
const gitlab = await new TestIssuer().start();
const work = await mkdtemp(join(tmpdir(), 'soak-'));
await writeFile(
  join(work, 'policy.yaml'),
  `${testPolicy(github.url, gitlab.url)}limits:\n  per_source_ip: { rate: "100000", burst: "100000" }\n  per_workload: { rate: "100000", burst: "100000" }\n`,
);
const adminToken = randomBytes(24).toString('hex');
const port = await freePort();
const logFile = join(work, 'broker.log');
const broker = spawn(
  'node',
  [
    join(REPO_ROOT, 'bin/secrets-broker.js'),
    'serve',
    '--policy',
    join(work, 'policy.yaml'),
    '--data-dir',
    join(work, 'data'),
    '--port',
    String(port),
  ],
  {
    env: {
      PATH: process.env.PATH,
      SECRETS_BROKER_MASTER_KEY: randomBytes(32).toString('hex'),
      SECRETS_BROKER_BOOTSTRAP_TOKEN: adminToken,
    },
    stdio: ['ignore', openSync(logFile, 'w'), openSync(logFile, 'a')],
  },
);
const url = `http://127.0.0.1:${port}`;
for (let attempt = 0; !(await fetch(`${url}/healthz`).catch(() => undefined))?.ok; attempt += 1) {
  if (attempt > 300) throw new Error('the broker did not start');
  await new Promise((resolve) => setTimeout(resolve, 100));
}

const canaries = [canary('soak-a'), canary('soak-b'), `${canary('soak-line1')}\n${canary('soak-line2')}`];
const forms = canaries.flatMap((value) => leakForms(value));
const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${url}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
await admin('PUT', '/secrets/prod/api/A', { value: canaries[0] });
await admin('PUT', '/secrets/prod/api/B', { value: canaries[1] });
await admin('PUT', '/secrets/prod/api/MULTI', { value: canaries[2] });
await admin('PUT', '/secrets/other/HIDDEN', { value: canary('soak-hidden') });

const recipient = Buffer.alloc(32);
sodium.crypto_box_keypair(recipient, Buffer.alloc(32));
const body = (secrets: string[]) => JSON.stringify({ recipient: recipient.toString('base64'), secrets });
const counts = new Map<string, number>();
let leaks = 0;
let serverErrors = 0;
const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);

async function send(kind: string, init: RequestInit, path = '/v1/exchange'): Promise<void> {
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  count(`${kind} ${response.status}`);
  if (response.status >= 500) serverErrors += 1;
  if (forms.some((form) => text.includes(form))) leaks += 1;
}

const token = (overrides = {}) => github.token(githubClaims(github.url, AUDIENCE, overrides));
const actions: (() => Promise<void>)[] = [
  async () =>
    send('allowed', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
      body: body(['prod/api/*']),
    }),
  async () =>
    send('denied', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await token({ environment: 'staging' })}`,
      },
      body: body(['prod/api/A', 'other/HIDDEN']),
    }),
  async () => {
    const used = await token();
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${used}` },
      body: body(['prod/api/B']),
    };
    await send('first use', init);
    await send('replayed', init);
  },
  async () =>
    send('malformed', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
      body: '{"recipient": [',
    }),
  async () =>
    send('bad token', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer a.b.c' },
      body: body(['prod/api/A']),
    }),
  async () =>
    send(
      'admin write',
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: canaries[1] }),
      },
      '/v1/admin/secrets/prod/api/B',
    ),
];

const rss: { second: number; mb: number }[] = [];
const started = Date.now();
const deadline = started + minutes * 60_000;
const sampler = setInterval(() => {
  const status = readFileSync(`/proc/${broker.pid}/status`, 'utf8');
  rss.push({
    second: Math.round((Date.now() - started) / 1000),
    mb: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024,
  });
}, 5_000);

await Promise.all(
  Array.from({ length: WORKERS }, async (_, worker) => {
    for (let index = worker; Date.now() < deadline; index += WORKERS)
      await actions[index % actions.length]!();
  }),
);
clearInterval(sampler);
broker.kill('SIGTERM');
await new Promise((resolve) => broker.once('exit', resolve));
await github.stop();
await gitlab.stop();

const files = [logFile, ...readdirSync(join(work, 'data')).map((file) => join(work, 'data', file))];
const fileLeaks = files.filter((file) => {
  const content = readFileSync(file);
  return forms.some((form) => content.includes(Buffer.from(form)));
});
const warm = rss.filter((sample) => sample.second >= 60);
const afterWarmup = warm[0]?.mb ?? rss[0]?.mb ?? 0;
const peak = Math.max(...warm.map((sample) => sample.mb), afterWarmup);
const total = [...counts.values()].reduce((a, b) => a + b, 0);
console.log(
  `soak: ${minutes} min, ${total} requests (${(total / (minutes * 60)).toFixed(0)}/s), ${WORKERS} concurrent workers`,
);
for (const [key, value] of [...counts.entries()].sort()) console.log(`  ${key.padEnd(22)} ${value}`);
console.log(`5xx answers: ${serverErrors}`);
console.log(
  `RSS: ${rss
    .map((sample) => `${sample.second}s ${sample.mb.toFixed(0)}MB`)
    .filter((_, index) => index % 6 === 0)
    .join(', ')}`,
);
console.log(
  `RSS after 1 min warm-up ${afterWarmup.toFixed(1)} MB, peak after it ${peak.toFixed(1)} MB: growth ${(((peak - afterWarmup) / afterWarmup) * 100).toFixed(1)}%`,
);
console.log(
  `canary hits: ${leaks} in responses, ${fileLeaks.length} in files (${files.length} scanned: broker log and database files)`,
);
process.exitCode = serverErrors > 0 || leaks > 0 || fileLeaks.length > 0 || peak > afterWarmup * 1.1 ? 1 : 0;
