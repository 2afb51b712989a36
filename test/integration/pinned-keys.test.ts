/**
 * Pinned issuer keys against the real broker: tokens of an issuer whose keys the policy pins verify with no
 * request to it at all (its URL is a TCP server that counts every connection), other keys are refused, and a
 * policy reload follows the pinned keys (and refuses broken ones, the old policy serving on).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerHarness, newRecipient, openSealed, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims, type Claims, type TestIssuer } from '../helpers/oidc-issuer.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/cli.js';
import type { Explanation } from '../../src/broker/explain/explain.js';

const SECRET = 'prod/api/DB_PASSWORD';
const VALUE = 'pinned-issuer-db-password';
/** Short, so that a background refresh of the pinned issuer, if there were one, would run many times per test. */
const REFRESH_MS = 25;

/** A TCP server on 127.0.0.1 that counts every connection and closes it: the pinned issuer's address. */
class ConnectionCounter {
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => {
    this.connections += 1;
    this.sockets.add(socket);
    socket.destroy();
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

function signingKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, use: 'sig' } };
}

function sign(key: SigningKey, claims: Claims, kid = key.kid): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setExpirationTime('5m')
    .sign(key.privateKey);
}

/** The policy: `pinned` (at the counting address, keys in pinned.jwks.json), and GitHub's and GitLab's test issuers. */
function pinnedPolicy(pinnedUrl: string, githubKeys = ''): (githubUrl: string, gitlabUrl: string) => string {
  return (githubUrl, gitlabUrl) => `version: 1
audience: ${TEST_AUDIENCE}
issuers:
  pinned:
    url: ${pinnedUrl}
    jwks_file: pinned.jwks.json
  github:
    url: ${githubUrl}
${githubKeys}
  gitlab:
    url: ${gitlabUrl}
rules:
  - name: pinned-deploy
    issuer: pinned
    claims:
      repository_id: "98765"
    secrets: [prod/api/*]
  - name: github-deploy
    issuer: github
    claims:
      repository_id: "98765"
    secrets: [prod/api/*]
`;
}

let harness: BrokerHarness | undefined;
let counter: ConnectionCounter | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await harness?.close();
  await counter?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  harness = undefined;
  counter = undefined;
  dataDir = undefined;
});

interface Setup {
  readonly h: BrokerHarness;
  readonly counter: ConnectionCounter;
  readonly pinnedUrl: string;
  readonly key: SigningKey;
  readonly writeKeys: (keys: readonly unknown[]) => Promise<void>;
  readonly token: (key?: SigningKey, kid?: string) => Promise<string>;
}

async function start(keys?: (key: SigningKey) => unknown[]): Promise<Setup> {
  counter = new ConnectionCounter();
  const pinnedUrl = await counter.start();
  dataDir = await mkdtemp(join(tmpdir(), 'pinned-keys-'));
  const directory = dataDir;
  const writeKeys = (list: readonly unknown[]): Promise<void> =>
    writeFile(join(directory, 'pinned.jwks.json'), JSON.stringify({ keys: list }));
  const key = signingKey('pinned-1');
  await writeKeys(keys === undefined ? [key.jwk] : keys(key));
  harness = await BrokerHarness.start({
    dataDir: directory,
    policy: pinnedPolicy(pinnedUrl),
    issuerKeys: { refreshIntervalMs: REFRESH_MS, minRefetchIntervalMs: 0 },
  });
  await harness.setSecret(SECRET, VALUE);
  const token = (signer: SigningKey = key, kid?: string): Promise<string> =>
    sign(signer, githubClaims(pinnedUrl, TEST_AUDIENCE), kid ?? signer.kid);
  return { h: harness, counter, pinnedUrl, key, writeKeys, token };
}

/** Waits until a discovered test issuer has been refreshed `times` more times: the refresh timer ran. */
async function refreshesRan(issuer: TestIssuer, times: number): Promise<void> {
  const discovery = (): number =>
    issuer.requests.filter((path) => path === '/.well-known/openid-configuration').length;
  const target = discovery() + times;
  await eventually(async () => (discovery() >= target ? true : undefined), 15_000, 'background refreshes');
}

async function expectReleased(h: BrokerHarness, token: string): Promise<void> {
  const recipient = newRecipient();
  const result = await h.exchange(token, [SECRET], recipient);
  expect(result.status, result.text).toBe(200);
  const [box] = result.json.secrets as { sealed: string }[];
  expect(openSealed(box!.sealed, recipient)).toMatchObject({ name: SECRET, value: VALUE });
}

async function expectRefused(h: BrokerHarness, token: string, status: number, code: string) {
  const result = await h.exchange(token, [SECRET]);
  expect(result.status, result.text).toBe(status);
  expect(result.json.code).toBe(code);
  expect(result.json).not.toHaveProperty('secrets');
  expect(result.text).not.toContain(VALUE);
  return result;
}

describe('pinned issuer keys', () => {
  it('verifies and releases with no connection to the issuer: at startup, across background refreshes and an unknown key id', async () => {
    const { h, counter, pinnedUrl, token } = await start();
    await expectReleased(h, await token());
    await refreshesRan(h.github, 3);
    await expectReleased(h, await token());
    // A key id the policy does not pin: refused at once, and no refresh is tried for it.
    const unknown = await expectRefused(h, await token(signingKey('rotated')), 401, 'invalid_token');
    expect(unknown.json.detail).toBe(
      'the token\'s key id "rotated" is not among the keys pinned for issuer "pinned" (its keys are pinned in the policy, never fetched)',
    );
    expect(unknown.json.hint).toMatch(
      /add the issuer's new public key to the issuer's jwks_file in the policy/,
    );
    await refreshesRan(h.github, 2);
    expect(counter.connections).toBe(0);

    const ready = await h.request('GET', '/readyz');
    const issuers = ready.json.issuers as Record<string, unknown>[];
    expect(issuers.find((issuer) => issuer.issuer === pinnedUrl)).toEqual({
      issuer: pinnedUrl,
      source: 'pinned',
      loaded: true,
      key_count: 1,
      fetched_at: null,
      last_error: null,
      valid_until: null,
    });
    expect(issuers.find((issuer) => issuer.issuer === h.github.url)).toMatchObject({
      source: 'discovery',
      loaded: true,
    });
  });

  it('refuses a token signed by a key outside the file, under a pinned key id or its own, and releases nothing', async () => {
    const { h, counter, token, key } = await start();
    const forged = await expectRefused(h, await token(signingKey('other'), key.kid), 401, 'invalid_token');
    expect(forged.json.detail).toBe(
      'the token\'s signature does not verify with the keys pinned for issuer "pinned"',
    );
    await expectRefused(h, await token(signingKey('other')), 401, 'invalid_token');
    expect(counter.connections).toBe(0);
  });

  it('refuses a token signed by a pinned key past its declared validity; the other keys keep working', async () => {
    const old = signingKey('old');
    const { h, counter, token } = await start((key) => [
      { ...old.jwk, exp: Math.floor(Date.now() / 1000) - 60 },
      key.jwk,
    ]);
    const expired = await expectRefused(h, await token(old), 401, 'invalid_token');
    expect(expired.json.detail).toMatch(
      /^the token's key id "old" names a key pinned for issuer "pinned" whose declared validity ended at \d{4}-\d\d-\d\dT/,
    );
    await expectReleased(h, await token());
    expect(counter.connections).toBe(0);
  });

  it('a reload with new jwks_file content takes effect; a broken one is refused and the old keys serve on', async () => {
    const { h, counter, token, key, writeKeys } = await start();
    const next = signingKey('pinned-2');
    await writeKeys([next.jwk]);
    // The policy file is unchanged: SIGHUP (reloadPolicy) rereads the keys.
    expect(await h.broker.reloadPolicy()).toEqual({ ok: true, changed: true });
    await expectReleased(h, await token(next));
    await expectRefused(h, await token(key), 401, 'invalid_token');

    const leaked = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    await writeKeys([{ ...leaked, kid: 'leaked' }]);
    const refused = await h.broker.reloadPolicy();
    expect(refused.ok).toBe(false);
    const problems = refused.ok ? [] : refused.problems;
    expect(problems).toEqual([
      expect.stringMatching(
        /policy\.yaml:6:\d+: issuers\.pinned\.jwks_file: the JWKS file ".*pinned\.jwks\.json" keys\[0\] holds private key material .*pin only public keys/,
      ),
    ]);
    expect(problems.join('\n')).not.toContain(leaked.d as string);
    await writeKeys([]);
    expect((await h.broker.reloadPolicy()).ok).toBe(false);
    await rm(join(dataDir as string, 'pinned.jwks.json'));
    expect((await h.broker.reloadPolicy()).ok).toBe(false);
    await expectReleased(h, await token(next));
    await refreshesRan(h.github, 2);
    expect(counter.connections).toBe(0);
  });

  it('a reload that pins a discovered issuer stops every request to it, and one that unpins it resumes them', async () => {
    const { h, counter, pinnedUrl } = await start();
    const githubToken = (): Promise<string> => h.github.token(githubClaims(h.github.url, TEST_AUDIENCE));
    await expectReleased(h, await githubToken());
    const published = h.github.issuer.keys.toJSON() as unknown as Record<string, unknown>[];
    const githubKeys = `    jwks: '${JSON.stringify({ keys: published })}'`;
    await writeFile(h.policyFile, pinnedPolicy(pinnedUrl, githubKeys)(h.github.url, h.gitlab.url));
    expect((await h.broker.reloadPolicy()).ok).toBe(true);
    // GitLab's refreshes are the clock: its timer runs, GitHub's no longer does. A refresh of GitHub already
    // under way at the reload may still finish (discovery, then JWKS), so count from after three of GitLab's.
    await refreshesRan(h.gitlab, 3);
    const before = h.github.requests.length;
    await refreshesRan(h.gitlab, 3);
    await expectReleased(h, await githubToken());
    expect(h.github.requests.length).toBe(before);

    await writeFile(h.policyFile, pinnedPolicy(pinnedUrl)(h.github.url, h.gitlab.url));
    expect((await h.broker.reloadPolicy()).ok).toBe(true);
    await refreshesRan(h.github, 1);
    await expectReleased(h, await githubToken());
    expect(counter.connections).toBe(0);
  });

  it('policy explain --token verifies the signature offline with the pinned keys', async () => {
    const { h, counter, token, key } = await start();
    const explain = async (jwt: string): Promise<Explanation> => {
      const run = await runCli([
        'policy',
        'explain',
        h.policyFile,
        '--token',
        jwt,
        '--secret',
        SECRET,
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as Explanation;
    };
    const good = await explain(await token());
    expect(good.token?.signature_checked).toBe(true);
    expect(good.token?.refused).toBeNull();
    expect(good.token?.checks.find((check) => check.check === 'signature')).toEqual({
      check: 'signature',
      result: 'passed',
      detail: `verified offline with the key "pinned-1" pinned for issuer "pinned" (jwks_file ${join(dataDir as string, 'pinned.jwks.json')})`,
    });
    expect(good.secrets[0]).toMatchObject({ granted: true, rules: ['pinned-deploy'] });

    const forged = await explain(await token(signingKey('other'), key.kid));
    expect(forged.token?.signature_checked).toBe(true);
    expect(forged.token?.refused).toMatchObject({ check: 'signature', code: 'invalid_token' });
    expect(forged.token?.checks.find((check) => check.check === 'audience')?.result).toBe('not_checked');
    expect(forged.secrets[0]).toMatchObject({ granted: false });

    const text = await runCli(['policy', 'explain', h.policyFile, '--token', await token()]);
    expect(text.stdout).toMatch(/ok {3}signature: verified offline with the key "pinned-1"/);

    // A discovered issuer's signature is still not checked here.
    const discovered = await explain(await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE)));
    expect(discovered.token?.signature_checked).toBe(false);
    expect(discovered.token?.checks.find((check) => check.check === 'signature')?.result).toBe('not_checked');

    // The admin API's explain (the dashboard's) checks it the same way.
    const admin = await h.admin('POST', '/policy/explain', { token: await token(signingKey('x'), key.kid) });
    expect(admin.status, admin.text).toBe(200);
    expect(admin.json).toMatchObject({ token: { signature_checked: true, refused: { check: 'signature' } } });
    expect(counter.connections).toBe(0);
  });
});
