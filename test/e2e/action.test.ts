/**
 * End to end: the bundled action (dist/) run as the runner runs it, against the real broker and a token
 * endpoint that mints through oauth2-mock-server.
 */
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sodium from 'sodium-native';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maskForms } from '../../src/action/masking.js';
import { decodeCreated, encodeCreated, STATE_CREATED } from '../../src/action/state.js';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { hasUnprintable } from '../../src/protocol/printable.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { newRunnerDirectory, runStep, type RunnerDirectory, type StepResult } from '../helpers/runner.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';
import { freePort } from '../helpers/free-port.js';
import { run } from '../helpers/child-process.js';
import { PLANTED_PATHS } from '../helpers/planted-paths.js';
import { describeEachNode } from '../helpers/node-binaries.js';

const values = {
  dbPassword: canary('db-password'),
  cert: `-----BEGIN CERTIFICATE-----\n${canary('cert-line-1')}\n${canary('cert-line-2')}\n-----END CERTIFICATE-----\n`,
  config: JSON.stringify({ apiVersion: 'v1', token: canary('json-token'), port: 6443 }),
  dbUrl: `postgres://app:${canary('url')}@db:5432/app?sslmode=require&x=a b`,
  slack: `https://hooks.example/${canary('slack')}`,
};

/** Secrets whose derived names run code in later steps, all reachable through one pattern. */
const codeRunningNames = ['LD_AUDIT', 'GIT_CONFIG_PARAMETERS', 'PERL5OPT', 'node_options'];
const codeRunningValues = codeRunningNames.map((name) => canary(`code-${name}`));
/** A secret whose derived name points tools at a proxy: exported only when the workflow names it. */
const PROXY = 'http://proxy.example:3128';

let harness: BrokerHarness;
let tokens: TokenEndpoint;

beforeAll(async () => {
  // The test policy, plus a shared folder the deploy rule reads through a pattern.
  harness = await BrokerHarness.start({
    policy: (github, gitlab) =>
      testPolicy(github, gitlab).replace(
        '      - shared/SLACK_WEBHOOK\n',
        '      - shared/SLACK_WEBHOOK\n      - prod/shared/*\n',
      ),
  });
  tokens = await new TokenEndpoint(harness.github).start();
  for (const [index, name] of codeRunningNames.entries())
    await harness.setSecret(`prod/shared/${name}`, codeRunningValues[index]!);
  await harness.setSecret('prod/shared/REGION', 'eu-west-1');
  await harness.setSecret('prod/shared/HTTPS_PROXY', PROXY);
  await harness.setSecret('prod/api/DB_PASSWORD', values.dbPassword);
  await harness.setSecret('prod/api/CERT', values.cert);
  await harness.setSecret('prod/api/CONFIG', values.config);
  await harness.setSecret('prod/api/db-url', values.dbUrl);
  await harness.setSecret('shared/SLACK_WEBHOOK', values.slack);
  await harness.setSecret('prod/api/DB_URL', 'same-variable-name');
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

function inputs(overrides: Record<string, string> = {}): Record<string, string> {
  return { 'broker-url': harness.url, audience: TEST_AUDIENCE, 'timeout-seconds': '10', ...overrides };
}

const escapeCommandData = (text: string): string =>
  text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');

/** Every form of every value must be masked, in one block before anything else that follows the exchange. */
function expectMaskedFirst(result: StepResult, secretValues: readonly string[]): void {
  const lines = result.stdout.split('\n');
  const expected = new Set(
    secretValues
      .flatMap((value) => maskForms(value, true))
      .map((form) => `::add-mask::${escapeCommandData(form)}`),
  );
  const indexes = lines.flatMap((line, index) => (expected.has(line) ? [index] : []));
  for (const line of expected) expect(lines).toContain(line);
  const first = Math.min(...indexes);
  const last = Math.max(...indexes);
  for (const line of lines.slice(first, last + 1)) expect(line.startsWith('::add-mask::')).toBe(true);
  const otherOutput = [...lines.filter((line) => !line.startsWith('::add-mask::')), result.stderr].join('\n');
  expect(findLeaks(secretValues, { 'step output': otherOutput })).toEqual([]);
}

async function expectNothingWritten(directory: RunnerDirectory, result: StepResult): Promise<void> {
  expect(result.code).toBe(1);
  expect(result.env).toEqual({});
  expect(result.outputs).toEqual({});
  expect(await readdir(directory.temp)).toEqual([]);
  expect(await readdir(directory.workspace)).toEqual([]);
}

describeEachNode('the action exports secrets', (node) => {
  it('fetches, masks first, exports env, outputs and a 0600 file; the post step removes every file', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({
        secrets: [
          '# the database',
          'prod/api/DB_PASSWORD',
          '',
          'TLS_CERT=prod/api/CERT',
          'KUBECONFIG=@prod/api/CONFIG',
          'prod/api/db-url',
          'shared/*',
          'prod/api/OPTIONAL?',
        ].join('\n'),
        file: 'secrets.env',
      }),
    });
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);
    expectMaskedFirst(main, Object.values(values));
    // The OIDC ID token is masked too, as soon as the runner hands it over.
    expect(main.stdout).toMatch(/^::add-mask::eyJ[\w-]+\.[\w-]+\.[\w-]+$/m);

    expect(main.env).toMatchObject({
      DB_PASSWORD: values.dbPassword,
      TLS_CERT: values.cert,
      DB_URL: values.dbUrl,
      SLACK_WEBHOOK: values.slack,
    });
    const kubeconfig = main.env.KUBECONFIG!;
    expect(kubeconfig.startsWith(directory.temp)).toBe(true);
    expect(await readFile(kubeconfig, 'utf8')).toBe(values.config);
    expect((await stat(kubeconfig)).mode & 0o777).toBe(0o600);
    expect(main.outputs).toMatchObject({
      DB_PASSWORD: values.dbPassword,
      KUBECONFIG: kubeconfig,
      SLACK_WEBHOOK: values.slack,
    });
    expect(JSON.parse(main.outputs.names!)).toEqual([
      'prod/api/DB_PASSWORD',
      'prod/api/CERT',
      'prod/api/CONFIG',
      'prod/api/db-url',
      'shared/SLACK_WEBHOOK',
    ]);

    const file = join(directory.workspace, 'secrets.env');
    expect(main.outputs.file).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const sourced = await run('bash', [
      '-c',
      `set -a; . "${file}"; printf '%s\\0' "$DB_PASSWORD" "$TLS_CERT" "$DB_URL" "$SLACK_WEBHOOK"`,
    ]);
    expect(sourced.stdout.split('\0').slice(0, 4)).toEqual([
      values.dbPassword,
      values.cert,
      values.dbUrl,
      values.slack,
    ]);

    expect(main.summary).toContain('<td>prod/api/CERT</td><td>TLS_CERT</td><td>1</td>');
    expect(
      findLeaks(Object.values(values), { summary: main.summary, state: JSON.stringify(main.state) }),
    ).toEqual([]);

    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Removed ${file}`);
    expect(post.stdout).toContain(`Removed ${kubeconfig}`);
    expect(await readdir(directory.workspace)).toEqual([]);
    expect(await readdir(directory.temp)).toEqual([]);

    const again = await runStep('post', directory, { node, inputs: {} });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Already gone: ${file}`);
  });

  it('writes a JSON file when asked', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({
        secrets: 'prod/api/DB_PASSWORD\nCONFIG=prod/api/CONFIG',
        file: 'out/../s.json',
        'file-format': 'json',
        'export-env': 'false',
      }),
    });
    expect(main.code).toBe(0);
    expect(main.env).toEqual({});
    expect(JSON.parse(await readFile(join(directory.workspace, 's.json'), 'utf8'))).toEqual({
      DB_PASSWORD: values.dbPassword,
      CONFIG: values.config,
    });
  });
});

describeEachNode('run: one command with the secrets', (node) => {
  it('gives the secrets to the command only and exports nothing', async () => {
    const directory = await newRunnerDirectory();
    const proof = join(directory.root, 'proof');
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({
        secrets: 'prod/api/DB_PASSWORD\nKUBECONFIG=@prod/api/CONFIG',
        run: `printf '%s\\n' "$DB_PASSWORD" > "${proof}"; cat "$KUBECONFIG" >> "${proof}"; stat -c %a "$KUBECONFIG" >> "${proof}"; echo "$DB_PASSWORD"`,
      }),
    });
    expect(main.code).toBe(0);
    expect(await readFile(proof, 'utf8')).toBe(`${values.dbPassword}\n${values.config}600\n`);
    expect(main.env).toEqual({});
    expect(main.outputs).toEqual({});
    // The runner masks the echo; the raw value reaches stdout only because no runner is reading it here.
    expect(main.stdout.split('\n').indexOf(`::add-mask::${values.dbPassword}`)).toBeLessThan(
      main.stdout.split('\n').indexOf(values.dbPassword),
    );
    expect(await readdir(directory.temp)).toEqual([]);
  });

  it("fails the step with the command's exit code", async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD', run: 'exit 7' }),
    });
    expect(main.code).toBe(7);
    expect(main.stdout).toContain('::error::The run command exited with code 7.');
  });
});

describeEachNode('failures end the step with a clear message and write nothing', (node) => {
  it('missing id-token permission', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD' }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('::error::This job cannot request an OIDC ID token');
    expect(result.stdout).toContain('id-token: write');
  });

  it("policy denial carries the broker's hint", async () => {
    const directory = await newRunnerDirectory();
    tokens.claims = { environment: 'staging' };
    try {
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ secrets: 'prod/api/DB_PASSWORD' }),
      });
      await expectNothingWritten(directory, result);
      expect(result.stdout).toContain(
        "::error::The broker's policy does not grant this job what it asked for (policy_denied)",
      );
      expect(result.stdout).toContain(
        'claim \\"environment\\" is \\"staging\\" but the rule wants \\"production\\"'.replaceAll('\\"', '"'),
      );
      expect(result.stdout).toMatch(/Request id: [0-9a-f-]{36}/);
    } finally {
      tokens.claims = {};
    }
  });

  it('missing secret', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\nprod/api/NOT_STORED' }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('(secret_not_found): granted but not stored: prod/api/NOT_STORED');
  });

  it('two secrets under one variable name, named both', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/db-url\nDB_URL=prod/api/DB_URL', file: 'x.env' }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('"prod/api/db-url" and "prod/api/DB_URL" would both be DB_URL');
    // Masked all the same: the values were released before the clash was found.
    expect(result.stdout).toContain(`::add-mask::${escapeCommandData(values.dbUrl)}`);
  });

  it('a bad input line, named with its number', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\n\n1BAD=prod/x\nPATH=prod/y' }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('secrets line 3 (\\"1BAD=prod/x\\")'.replaceAll('\\"', '"'));
    expect(result.stdout).toContain('"PATH" is refused');
    expect(tokens.audiences.length).toBeGreaterThan(0);
  });

  it('broker down: retries, then fails within the timeout', async () => {
    const directory = await newRunnerDirectory();
    const port = await freePort();
    const before = tokens.audiences.length;
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({
        'broker-url': `http://127.0.0.1:${port}`,
        secrets: 'prod/api/DB_PASSWORD',
        retries: '2',
        'timeout-seconds': '20',
      }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('retry 1 of 2');
    expect(result.stdout).toContain('retry 2 of 2');
    expect(result.stdout).toContain(
      `cannot get an answer from the broker at http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
    expect(result.stdout).toContain('gave up after 3 attempt(s)');
    expect(tokens.audiences.length - before).toBe(3);
  });

  it('a box whose inside name does not match its entry', async () => {
    const directory = await newRunnerDirectory();
    // A broker that seals the wrong secret into the box listed under the requested name.
    const liar = await startFakeBroker((_count, recipient) => ({
      status: 200,
      body: {
        request_id: 'liar',
        secrets: [
          {
            name: 'prod/api/DB_PASSWORD',
            version: 1,
            sealed: seal({ name: 'prod/api/OTHER', version: 1, value: 'swapped-value' }, recipient),
          },
        ],
      },
    }));
    try {
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ 'broker-url': liar.url, secrets: 'prod/api/DB_PASSWORD' }),
      });
      await expectNothingWritten(directory, result);
      expect(result.stdout).toContain('holds "prod/api/OTHER" version 1; boxes were swapped or altered');
      expect(result.stdout).not.toContain('swapped-value');
    } finally {
      await new Promise((resolve) => liar.server.close(resolve));
    }
  });
});

describeEachNode('retries', (node) => {
  it("every attempt uses a fresh token, so the broker's replay check passes", async () => {
    const directory = await newRunnerDirectory();
    // Forwards the first exchange to the broker (which uses up its token) but answers 503 to the action.
    let exchanges = 0;
    const proxy = createServer((incoming, outgoing) => {
      if (incoming.url === '/v1/exchange') exchanges += 1;
      const upstream = httpRequest(
        `${harness.url}${incoming.url}`,
        { method: incoming.method, headers: incoming.headers },
        (answer) => {
          if (exchanges === 1 && incoming.url === '/v1/exchange') {
            answer.resume();
            outgoing.writeHead(503, { 'content-type': 'application/problem+json' });
            outgoing.end(
              JSON.stringify({
                title: 'Service unavailable',
                status: 503,
                detail: 'proxy says try again',
                code: 'unavailable',
              }),
            );
            return;
          }
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const before = tokens.audiences.length;
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({
          'broker-url': `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
          secrets: 'prod/api/DB_PASSWORD',
        }),
      });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('retry 1 of 3');
      expect(result.env.DB_PASSWORD).toBe(values.dbPassword);
      expect(exchanges).toBe(2);
      expect(tokens.audiences.length - before).toBe(2);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describeEachNode('secret names that would run code in later steps', (node) => {
  it('refuses them through a pattern, in any letter case, naming each and writing nothing', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/shared/*', file: 'shared.env' }),
    });
    await expectNothingWritten(directory, result);
    for (const name of codeRunningNames) {
      const upper = name.toUpperCase();
      expect(result.stdout).toContain(`secret "prod/shared/${name}" (line 1): "${upper}" is refused`);
      expect(result.stdout).toContain(`MY_${upper}=prod/shared/${name}`);
    }
    expectMaskedFirst(result, codeRunningValues);
  });

  it('exports them under names the job chooses on lines of their own', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({
        secrets: [
          'prod/shared/*',
          // Not shaped like a credential: through the pattern it would be refused, named it is exported.
          'REGION=prod/shared/REGION',
          ...codeRunningNames.map((name) => `MY_${name.toUpperCase()}=prod/shared/${name}`),
          'HTTPS_PROXY=prod/shared/HTTPS_PROXY',
        ].join('\n'),
      }),
    });
    expect(result.code, result.stdout).toBe(0);
    expect(result.env).toEqual({
      REGION: 'eu-west-1',
      HTTPS_PROXY: PROXY,
      ...Object.fromEntries(
        codeRunningNames.map((name, index) => [`MY_${name.toUpperCase()}`, codeRunningValues[index]]),
      ),
    });
  });
});

describeEachNode('secret names that point tools at files, daemons or proxies', (node) => {
  it('are refused through a pattern, and exported when the workflow names them', async () => {
    const directory = await newRunnerDirectory();
    const renamed = codeRunningNames.map((name) => `MY_${name.toUpperCase()}=prod/shared/${name}`);
    const refused = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: ['prod/shared/*', ...renamed].join('\n') }),
    });
    await expectNothingWritten(directory, refused);
    expect(refused.stdout).toContain(
      'secret "prod/shared/HTTPS_PROXY" (line 1): "HTTPS_PROXY" is exported only when the workflow names it',
    );
    expect(refused.stdout).toContain('write HTTPS_PROXY=prod/shared/HTTPS_PROXY');
    const named = await runStep('main', await newRunnerDirectory(), {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'HTTPS_PROXY=prod/shared/HTTPS_PROXY\nKUBECONFIG=@prod/api/CONFIG' }),
    });
    expect(named.code, named.stdout).toBe(0);
    expect(named.env.HTTPS_PROXY).toBe(PROXY);
    expect(await readFile(named.env.KUBECONFIG!, 'utf8')).toBe(values.config);
  });
});

describeEachNode('the token request is bounded by timeout-seconds', (node) => {
  it('fails the step when the runner never answers the ID token request', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const directory = await newRunnerDirectory();
      const result = await runStep('main', directory, {
        node,
        environment: {
          ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/token?x=1`,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token',
        },
        inputs: inputs({ secrets: 'prod/api/DB_PASSWORD', 'timeout-seconds': '2', file: 'secrets.env' }),
      });
      await expectNothingWritten(directory, result);
      expect(result.stdout).toContain('the token request did not answer in time');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describeEachNode('the file input is always a new file of its own', (node) => {
  for (const [what, plant] of PLANTED_PATHS) {
    it(`refuses a path that already holds ${what}, before any token is spent, and changes nothing`, async () => {
      const directory = await newRunnerDirectory();
      const path = join(directory.workspace, 'secrets.env');
      const outside = join(directory.root, 'outside');
      await plant(path, outside);
      const target = (await lstat(path)).isSymbolicLink() ? outside : path;
      const before = await lstat(target).catch(() => undefined);
      const tokensBefore = tokens.audiences.length;
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\nKUBECONFIG=@prod/api/CONFIG', file: 'secrets.env' }),
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`${path} already exists`);
      expect(result.stdout).toContain('remove it or choose another path');
      expect(result.env).toEqual({});
      expect(result.outputs).toEqual({});
      expect(await readdir(directory.temp)).toEqual([]);
      expect(await readdir(directory.workspace)).toEqual(['secrets.env']);
      expect(tokens.audiences.length).toBe(tokensBefore);
      if (before === undefined) {
        await expect(lstat(outside)).rejects.toMatchObject({ code: 'ENOENT' });
      } else {
        expect(await readFile(target, 'utf8')).toBe('victim\n');
        expect((await stat(target)).mode & 0o777).toBe(0o644);
      }
    });
  }
});

describeEachNode('the file input is written only through real directories', (node) => {
  it('refuses a path whose directory in the workspace is a symbolic link, before any token is spent', async () => {
    const directory = await newRunnerDirectory();
    const published = join(directory.root, 'published-site');
    await mkdir(published);
    await symlink(published, join(directory.workspace, 'out'));
    const tokensBefore = tokens.audiences.length;
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD', file: 'out/secrets.env' }),
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `${join(directory.workspace, 'out', 'secrets.env')} is refused: ${join(directory.workspace, 'out')} is a symbolic link`,
    );
    expect(result.env).toEqual({});
    expect(result.outputs).toEqual({});
    expect(await readdir(published)).toEqual([]);
    expect(await readdir(directory.temp)).toEqual([]);
    expect(tokens.audiences.length).toBe(tokensBefore);
  });
});

describeEachNode('the post step removes only what the main step created', (node) => {
  async function mainWithFile(): Promise<{ directory: RunnerDirectory; file: string; main: StepResult }> {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\nKUBECONFIG=@prod/api/CONFIG', file: 'secrets.env' }),
    });
    expect(main.code, main.stdout).toBe(0);
    return { directory, file: join(directory.workspace, 'secrets.env'), main };
  }

  it('leaves a symbolic link put in place of its file alone, and the file it points to untouched', async () => {
    const { directory, file, main } = await mainWithFile();
    const victim = join(directory.root, 'victim');
    await writeFile(victim, 'victim\n');
    await chmod(victim, 0o644);
    await rename(file, join(directory.root, 'moved-away'));
    await symlink(victim, file);
    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`::warning::Left ${file} as it is: it is now a symbolic link`);
    expect(await readFile(victim, 'utf8')).toBe('victim\n');
    expect((await stat(victim)).mode & 0o777).toBe(0o644);
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
    // The @ file and its directory were the main step's own: removed.
    expect(post.stdout).toContain(`Removed ${main.env.KUBECONFIG}`);
    expect(await readdir(directory.temp)).toEqual([]);
  });

  it('leaves another file put at its path alone', async () => {
    const { directory, file } = await mainWithFile();
    // The original stays linked elsewhere, so the new file cannot get its inode number.
    await rename(file, join(directory.root, 'moved-away'));
    await writeFile(file, 'someone else\n');
    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`::warning::Left ${file} as it is: it is now another file`);
    expect(await readFile(file, 'utf8')).toBe('someone else\n');
  });

  it('leaves alone a new file that got the inode number of its deleted file', async () => {
    const { directory, file, main } = await mainWithFile();
    const recorded = decodeCreated(main.state[STATE_CREATED] ?? '').files.find(
      (entry) => entry.path === file,
    )!;
    expect(recorded.birthNs).toMatch(/^[1-9][0-9]*$/);
    // Once the file system's clock has moved past the file's birth, a file created later has a later birth.
    let passed = false;
    for (let attempt = 0; attempt < 1_000_000 && !passed; attempt += 1) {
      await chmod(file, 0o600);
      passed = (await stat(file, { bigint: true })).ctimeNs > BigInt(recorded.birthNs!);
    }
    expect(passed).toBe(true);
    // A later step deletes the secrets file and writes its own there: ext4 and tmpfs reuse the inode number.
    await unlink(file);
    await writeFile(file, 'build output\n');
    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`::warning::Left ${file} as it is: it is now another file`);
    expect(await readFile(file, 'utf8')).toBe('build output\n');
  });

  it('leaves a path alone when the state records another device and inode for it', async () => {
    const { directory, file, main } = await mainWithFile();
    const created = decodeCreated(main.state[STATE_CREATED] ?? '');
    expect(created.files.map((entry) => entry.path)).toContain(file);
    const altered = {
      ...created,
      files: created.files.map((entry) =>
        entry.path === file ? { ...entry, ino: String(BigInt(entry.ino) + 1n) } : entry,
      ),
    };
    const content = await readFile(file, 'utf8');
    await writeFile(directory.state, `${STATE_CREATED}=${encodeCreated(altered)}\n`);
    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`::warning::Left ${file} as it is: it is now another file`);
    expect(await readFile(file, 'utf8')).toBe(content);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});

describeEachNode('everything is checked before anything is written', (node) => {
  it('file and an @ entry without RUNNER_TEMP: the step fails and writes nothing', async () => {
    const directory = await newRunnerDirectory();
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      environment: { RUNNER_TEMP: '' },
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\nKUBECONFIG=@prod/api/CONFIG', file: 'secrets.env' }),
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('RUNNER_TEMP is not set');
  });

  it('a write that fails halfway: what the step wrote is removed before it fails', async () => {
    const directory = await newRunnerDirectory();
    const outputs = join(directory.root, 'outputs-is-a-directory');
    await mkdir(outputs);
    const result = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      environment: { GITHUB_OUTPUT: outputs },
      inputs: inputs({ secrets: 'prod/api/DB_PASSWORD\nKUBECONFIG=@prod/api/CONFIG', file: 'secrets.env' }),
    });
    await expectNothingWritten(directory, result);
    expect(await readFile(directory.env, 'utf8')).toBe('');
    expect(result.stdout).toContain('EISDIR');
  });
});

describeEachNode("the broker's words are printed escaped", (node) => {
  it('no workflow command or terminal escape from a problem document reaches the log', async () => {
    const directory = await newRunnerDirectory();
    const fake = await startFakeBroker((count) =>
      count === 1
        ? {
            status: 503,
            headers: { 'retry-after': '0' },
            body: {
              title: 'x',
              status: 503,
              code: 'unavailable\n::warning::from-code',
              detail: 'down',
            },
          }
        : {
            status: 403,
            body: {
              title: 'x',
              status: 403,
              code: 'policy_denied',
              detail: 'denied\n::warning::from-detail \u001b[31mred\u001b]0;title\u0007',
              hint: '\n::add-mask::from-hint\u202e',
              request_id: 'id\r\n::error::from-request-id',
            },
          },
    );
    try {
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ 'broker-url': fake.url, secrets: 'prod/api/DB_PASSWORD', retries: '1' }),
      });
      await expectNothingWritten(directory, result);
      const lines = result.stdout.split('\n');
      expect(lines.filter((line) => /^::(warning|add-mask|error)::from/.test(line))).toEqual([]);
      expect(rawControlCharacters(result.stdout)).toEqual([]);
      expect(result.stdout).toContain('unavailable\\n::warning::from-code');
      expect(result.stdout).toContain('denied\\n::warning::from-detail \\x1b[31mred\\x1b]0;title\\x07');
      expect(result.stdout).toContain('Hint: \\n::add-mask::from-hint\\u202e');
    } finally {
      await new Promise((resolve) => fake.server.close(resolve));
    }
  });

  it('a request id from the broker is printed escaped', async () => {
    const directory = await newRunnerDirectory();
    const name = 'prod/api/A_TOKEN';
    const fake = await startFakeBroker((_count, recipient) => ({
      status: 200,
      body: {
        request_id: 'req\n::warning::from-request-id\u001b[2J',
        secrets: [{ name, version: 1, sealed: seal({ name, version: 1, value: 'fake-value' }, recipient) }],
      },
    }));
    try {
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ 'broker-url': fake.url, secrets: 'prod/api/*', 'export-env': 'false' }),
      });
      expect(result.code, result.stdout).toBe(0);
      expect(result.outputs.A_TOKEN).toBe('fake-value');
      expect(result.stdout).toContain(
        'request id req\\n::warning::from-request-id\\x1b[2J): prod/api/A_TOKEN v1 as A_TOKEN',
      );
      expect(rawControlCharacters(result.stdout)).toEqual([]);
      expect(rawControlCharacters(result.summary)).toEqual([]);
    } finally {
      await new Promise((resolve) => fake.server.close(resolve));
    }
  });

  it('a released secret name that is not a valid secret name is refused as an integrity failure', async () => {
    const directory = await newRunnerDirectory();
    const name = 'prod/api/A\u001b[2J\u202eB';
    const fake = await startFakeBroker((_count, recipient) => ({
      status: 200,
      body: {
        request_id: 'req\n::warning::from-request-id',
        secrets: [{ name, version: 1, sealed: seal({ name, version: 1, value: 'fake-value' }, recipient) }],
      },
    }));
    try {
      const result = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: inputs({ 'broker-url': fake.url, secrets: 'prod/api/*', 'export-env': 'false' }),
      });
      await expectNothingWritten(directory, result);
      expect(result.stdout).toContain('a name that is not a valid secret name');
      expect(result.stdout).not.toContain('fake-value');
      expect(rawControlCharacters(result.stdout)).toEqual([]);
    } finally {
      await new Promise((resolve) => fake.server.close(resolve));
    }
  });
});

interface FakeAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: unknown;
}

/** A broker that answers the n-th exchange (from 1) as told; `recipient` is the request's public key. */
async function startFakeBroker(
  answer: (count: number, recipient: Buffer) => FakeAnswer,
): Promise<{ server: Server; url: string }> {
  let count = 0;
  const server = createServer((incoming, outgoing) => {
    // The action reads /v1/info first (key-binding: auto): this stand-in has none, as a broker before it.
    if (incoming.method === 'GET') {
      outgoing.writeHead(404).end();
      return;
    }
    let body = '';
    incoming.on('data', (chunk: Buffer) => (body += chunk.toString()));
    incoming.on('end', () => {
      count += 1;
      const { recipient } = JSON.parse(body) as { recipient: string };
      const reply = answer(count, Buffer.from(recipient, 'base64'));
      outgoing.writeHead(reply.status, {
        'content-type': reply.status === 200 ? 'application/json' : 'application/problem+json',
        ...reply.headers,
      });
      outgoing.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function seal(payload: unknown, recipient: Buffer): string {
  const message = Buffer.from(JSON.stringify(payload));
  const sealed = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(sealed, message, recipient);
  return sealed.toString('base64');
}

/** The characters in `text` that `printable` would escape, line feeds aside (they end a log line). */
function rawControlCharacters(text: string): string[] {
  return [...text.replaceAll('\n', '')].filter(hasUnprintable);
}
