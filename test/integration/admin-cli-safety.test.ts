/**
 * Where the admin CLI sends its token, and what its URLs can reach: plain http only to loopback, and a name or id
 * never leaves its path segment (issue 12, items 2 and 5).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerHarness } from '../helpers/broker-harness.js';
import { adminEnvironment, runCli } from '../helpers/cli.js';

let harness: BrokerHarness;
/** An admin-role token: the one a traversal would revoke. */
let victim: { id: string; token: string };

beforeAll(async () => {
  harness = await BrokerHarness.start();
  await harness.setSecret('keep/A', 'safety-value-a');
  const created = await harness.admin('POST', '/tokens', { label: 'victim', role: 'admin' });
  victim = { id: created.json.id as string, token: created.json.token as string };
});

afterAll(async () => {
  await harness?.close();
});

const cli = (args: string[], environment = adminEnvironment(harness)) => runCli(args, { environment });

async function victimStillValid(): Promise<boolean> {
  return (await harness.admin('GET', '/whoami', undefined, victim.token)).status === 200;
}

/**
 * A server on 127.0.0.2: loopback on Linux, but not an address the CLI may use over plain http, so it stands
 * for a remote host that records every request it gets.
 */
async function withRecordingServer<T>(use: (url: string, seen: IncomingMessage[]) => Promise<T>): Promise<T> {
  const seen: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    seen.push(request);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"secrets":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  try {
    return await use(`http://127.0.0.2:${(server.address() as AddressInfo).port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('SECRETS_BROKER_URL', () => {
  it('over plain http to a host that is not loopback is refused: no request, no token sent', async () => {
    await withRecordingServer(async (url, seen) => {
      for (const args of [['secret', 'list'], ['token', 'list'], ['audit'], ['rotate-key']]) {
        const run = await cli(args, {
          SECRETS_BROKER_URL: url,
          SECRETS_BROKER_ADMIN_TOKEN: harness.adminToken,
        });
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
        expect(run.stderr).toBe(
          `error: SECRETS_BROKER_URL must use https:// (http:// only for 127.0.0.1, localhost or [::1]), not "${url}"; nothing was sent\n` +
            "hint: set it to the broker's https:// address (TLS in front of it), or run the CLI on the broker's host against http://127.0.0.1:PORT: the admin token must not cross a network in clear\n",
        );
      }
      expect(seen).toHaveLength(0);
    });
  });

  it('is refused before any connection for a remote name or address, and when it is not a URL', async () => {
    for (const url of [
      'http://192.0.2.1:8080',
      'http://broker.example',
      'HTTP://remote.example:80/',
      'ftp://x',
    ]) {
      const run = await cli(['secret', 'list'], { SECRETS_BROKER_URL: url, SECRETS_BROKER_ADMIN_TOKEN: 't' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('error: SECRETS_BROKER_URL must use https://');
      expect(run.stderr).not.toContain('cannot reach');
    }
    const notUrl = await cli(['secret', 'list'], {
      SECRETS_BROKER_URL: 'broker.example',
      SECRETS_BROKER_ADMIN_TOKEN: 't',
    });
    expect(notUrl.stderr).toContain(
      'error: SECRETS_BROKER_URL "broker.example" is not a URL; nothing was sent',
    );
  });

  it('over http to loopback (by address or as localhost) and over https is used', async () => {
    const port = harness.broker.port;
    for (const url of [`http://127.0.0.1:${port}`, `http://localhost:${port}/`]) {
      const run = await cli(['secret', 'list', 'keep/'], {
        ...adminEnvironment(harness),
        SECRETS_BROKER_URL: url,
      });
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain('keep/A');
    }
    // https is allowed to any host: the refusal is only about plain http.
    const https = await cli(['secret', 'list'], {
      ...adminEnvironment(harness),
      SECRETS_BROKER_URL: `https://127.0.0.1:${port}`,
    });
    expect(https.stderr).toContain('cannot reach the broker at https://127.0.0.1:');
  });
});

describe('names and ids in admin URLs', () => {
  it('secret delete with a traversal name is refused by the CLI: nothing sent, the token it aimed at still works', async () => {
    for (const name of [
      `a/../../tokens/${victim.id}`,
      `../tokens/${victim.id}`,
      `a/%2e%2e/%2e%2e/tokens/${victim.id}`,
    ]) {
      const run = await cli(['secret', 'delete', name]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        /^error: ".*" is not a valid secret name: .*; nothing was sent\nhint: a secret name is segments of /,
      );
    }
    expect(await victimStillValid()).toBe(true);
  });

  it('every secret verb validates the name before anything else', async () => {
    for (const args of [
      ['secret', 'set', 'a/../b', '--value', 'v'],
      ['secret', 'set', 'a?b', '--value', 'v', '--dry-run'],
      ['secret', 'delete', 'a/b?x=1'],
      ['secret', 'delete', 'a#frag'],
      ['secret', 'delete', ''],
      ['secret', 'delete', 'a//b'],
    ]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain('is not a valid secret name');
    }
    expect((await harness.admin('GET', '/secrets')).json.secrets).toMatchObject([{ name: 'keep/A' }]);
  });

  it('token revoke takes only a token id', async () => {
    for (const id of ['..', `../secrets/keep/A`, `${victim.id}/x`, '']) {
      const run = await cli(['token', 'revoke', id]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('is not a token id; nothing was sent');
    }
    expect(await victimStillValid()).toBe(true);
    expect((await harness.admin('GET', '/secrets')).json.secrets).toMatchObject([{ name: 'keep/A' }]);
  });

  it('the broker refuses a name that is not a secret name on every route that takes one, and changes nothing', async () => {
    const traversal = encodeURIComponent(`a/../../tokens/${victim.id}`);
    const deleted = await harness.admin('DELETE', `/secrets/${traversal}`);
    expect(deleted.status).toBe(400);
    expect(deleted.json).toMatchObject({ code: 'invalid_request' });
    expect(deleted.json.detail).toContain('is not a valid secret name');
    expect(deleted.json.hint).toContain('a secret name is segments of');
    for (const name of [traversal, 'a%3Fb', 'a%2F%2Fb', '..%2Fkeep%2FA']) {
      const put = await harness.admin('PUT', `/secrets/${name}`, { value: 'safety-value-b' });
      expect(put.status, name).toBe(400);
      expect(put.json.code).toBe('invalid_request');
      const dryRun = await harness.admin('PUT', `/secrets/${name}`, { value: 'v', dry_run: true });
      expect(dryRun.status).toBe(400);
      expect((await harness.admin('DELETE', `/secrets/${name}`)).status).toBe(400);
    }
    expect(await victimStillValid()).toBe(true);
    expect((await harness.admin('GET', '/secrets')).json.secrets).toMatchObject([
      { name: 'keep/A', version: 1 },
    ]);
    // The refusals are audited like every admin call.
    const audit = await harness.admin('GET', '/audit?kind=admin&outcome=denied&limit=1000');
    expect(audit.json.records).toContainEqual(
      expect.objectContaining({
        action: 'secrets.delete',
        code: 'invalid_request',
        target: `a/../../tokens/${victim.id}`,
      }),
    );
  });

  it('the broker refuses a token id that is not one', async () => {
    const revoked = await harness.admin('DELETE', `/tokens/${encodeURIComponent('../x')}`);
    expect(revoked.status).toBe(400);
    expect(revoked.json.detail).toBe('"../x" is not an admin token id');
    expect(await victimStillValid()).toBe(true);
  });

  it('a valid name sent with its slashes encoded is the same name', async () => {
    const put = await harness.admin('PUT', `/secrets/${encodeURIComponent('enc/ok/NAME')}`, { value: 'v' });
    expect(put.status).toBe(201);
    expect(put.json.name).toBe('enc/ok/NAME');
    expect((await cli(['secret', 'delete', 'enc/ok/NAME', '--purge'])).stdout).toBe(
      'deleted enc/ok/NAME and purged every version\n',
    );
  });
});
