import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { eventually } from '../helpers/eventually.js';

let harness: BrokerHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(): Promise<BrokerHarness> {
  harness = await BrokerHarness.start();
  await harness.setSecret('staging/api/DB_PASSWORD', 'staging-value');
  return harness;
}

async function exchangeNested(h: BrokerHarness) {
  const token = await h.github.token(
    githubClaims(h.github.url, TEST_AUDIENCE, { ref: 'refs/heads/feature/x' }),
  );
  return h.exchange(token, ['staging/api/DB_PASSWORD']);
}

async function reloads(h: BrokerHarness, result: 'applied' | 'refused'): Promise<number> {
  const metrics = (await h.request('GET', '/metrics')).text;
  return Number(
    new RegExp(`secrets_broker_policy_reloads_total\\{result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0,
  );
}

describe('policy hot reload', () => {
  it('applies a valid edit of the file without a restart', async () => {
    const h = await start();
    expect((await exchangeNested(h)).status).toBe(403);
    const text = await readFile(h.policyFile, 'utf8');
    await writeFile(h.policyFile, text.replace('ref: refs/heads/*', 'ref: refs/heads/**'));
    await eventually(
      async () => ((await reloads(h, 'applied')) === 1 ? true : undefined),
      15_000,
      'the reload',
    );
    expect((await exchangeNested(h)).status).toBe(200);
    expect(h.logs.join('')).toContain('"msg":"policy reloaded"');
  });

  it('refuses an invalid edit, logs its problems with line numbers, and keeps serving the old policy', async () => {
    const h = await start();
    const text = await readFile(h.policyFile, 'utf8');
    await writeFile(
      h.policyFile,
      text
        .replace('ref: refs/heads/*', 'ref: refs/heads/**\n      colour: [')
        .replace('audience:', 'audiences:'),
    );
    await eventually(
      async () => ((await reloads(h, 'refused')) === 1 ? true : undefined),
      15_000,
      'the refusal',
    );
    expect((await h.request('GET', '/metrics')).text).toMatch(/secrets_broker_policy_last_reload_ok 0/);
    expect(h.logs.join('')).toMatch(/policy reload refused; the previous policy keeps serving/);
    expect(h.logs.join('')).toMatch(/policy\.yaml:\d+:\d+:/);
    expect((await h.request('GET', '/v1/info')).json.audience).toBe(TEST_AUDIENCE);
    expect((await exchangeNested(h)).status).toBe(403);
    const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE, { ref: 'refs/heads/main' }));
    expect((await h.exchange(token, ['staging/api/DB_PASSWORD'])).status).toBe(200);

    await writeFile(h.policyFile, text.replace('ref: refs/heads/*', 'ref: refs/heads/**'));
    await eventually(
      async () => ((await reloads(h, 'applied')) === 1 ? true : undefined),
      15_000,
      'the fixed reload',
    );
    expect((await h.request('GET', '/metrics')).text).toMatch(/secrets_broker_policy_last_reload_ok 1/);
    expect((await exchangeNested(h)).status).toBe(200);
  });

  it('reloads on SIGHUP, even when the file did not change', async () => {
    const h = await start();
    process.emit('SIGHUP', 'SIGHUP');
    await eventually(
      async () => ((await reloads(h, 'applied')) === 1 ? true : undefined),
      15_000,
      'the SIGHUP reload',
    );
    expect(await h.broker.reloadPolicy()).toEqual({ ok: true, changed: true });
    expect(await reloads(h, 'applied')).toBe(2);
  });
});

describe('a hostile policy edit', () => {
  it.each([
    ['regex groups nested 20,000 deep', `{ regex: '${'('.repeat(20_000)}a${')'.repeat(20_000)}' }`],
    ['glob braces nested 20,000 deep', `'${'{'.repeat(20_000)}a${'}'.repeat(20_000)}'`],
    ['counted repeats of an empty group, nested', `{ regex: '(((?:){1000}){1000}){1000}' }`],
  ])('%s: refused at once, the broker keeps serving the old policy', async (_what, matcher) => {
    const h = await start();
    const text = await readFile(h.policyFile, 'utf8');
    await writeFile(h.policyFile, text.replace('ref: refs/heads/*', `ref: ${matcher}`));
    await eventually(
      async () => ((await reloads(h, 'refused')) === 1 ? true : undefined),
      15_000,
      'the refused reload',
    );
    expect(h.logs.join('')).toMatch(/nests .* more than 32 deep|takes more than \d+ steps to compile/);
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    // The old policy still decides.
    expect((await exchangeNested(h)).status).toBe(403);
    const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
    expect((await h.exchange(token, ['staging/api/DB_PASSWORD'])).status).toBe(200);
  });
});
