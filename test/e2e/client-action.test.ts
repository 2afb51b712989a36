/**
 * The bundled action (dist/index.js, run as the runner runs it) as a new user meets it: a broker-url with a
 * trailing slash, an audience the broker does not expect, a failure whose cause must survive the retries, the
 * dotenv file read back by the real readers, and standard base64 among the masked forms.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE, testPolicy } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { run } from '../helpers/child-process.js';
import { withFakeServer } from '../helpers/fake-server.js';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { newRunnerDirectory, runStep } from '../helpers/runner.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

let harness: BrokerHarness;
let tokens: TokenEndpoint;
const password = canary('client-action-db');
const carried: Record<string, string> = {
  SINGLE: `it's ${canary('client-action-single')}`,
  QUOTES: `"double" \`back\` $HOME # ${canary('client-action-quotes')}`,
  LINES: `  one\n\n${canary('client-action-lines')}  \n`,
};
const refusedValue = `it's "both" ${canary('client-action-refused')}`;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  await harness.setSecret('prod/api/DB_PASSWORD', password);
  for (const [name, value] of Object.entries(carried)) await harness.setSecret(`prod/api/${name}`, value);
  await harness.setSecret('prod/api/REFUSED', refusedValue);
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

describeEachNode('the action spells broker-url one way', (node) => {
  it('takes a broker-url with a trailing slash, and the default audience is the URL without it', async () => {
    // A broker whose policy audience is its own address, as the README suggests.
    await writeFile(
      harness.policyFile,
      testPolicy(harness.github.url, harness.gitlab.url).replace(
        `audience: ${TEST_AUDIENCE}`,
        `audience: ${harness.url}`,
      ),
    );
    await harness.broker.reloadPolicy();
    try {
      const before = tokens.audiences.length;
      const directory = await newRunnerDirectory();
      const main = await runStep('main', directory, {
        node,
        tokenEndpoint: tokens,
        inputs: { 'broker-url': `${harness.url}/`, secrets: 'prod/api/DB_PASSWORD' },
      });
      expect(main.code, main.stdout).toBe(0);
      // Bound to the run's key by default (key binding): the audience before the key digest is the URL.
      expect(
        tokens.audiences.slice(before).map((aud) => aud.replace(/\/key-binding\/[\w-]{43}$/, '')),
      ).toEqual([harness.url]);
      expect(main.env.DB_PASSWORD).toBe(password);
    } finally {
      await writeFile(harness.policyFile, testPolicy(harness.github.url, harness.gitlab.url));
      await harness.broker.reloadPolicy();
    }
  });

  it("names the audience input when the token's audience is not the broker's", async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: { 'broker-url': `${harness.url}/`, secrets: 'prod/api/DB_PASSWORD' },
    });
    expect(main.code).toBe(1);
    expect(main.stdout).toContain(
      `This job's token is for audience "${harness.url}"; the broker expects "${TEST_AUDIENCE}": set the action's "audience" input to "${TEST_AUDIENCE}" (it defaults to the broker-url).`,
    );
  });
});

describeEachNode('the action keeps the cause of a failure to the end', (node) => {
  it("names the broker's answer when a retry cannot get a new token", async () => {
    let tokenRequests = 0;
    await withFakeServer(
      (_request, response) => {
        response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' });
        response.end(
          JSON.stringify({
            title: 'Unavailable',
            status: 503,
            code: 'unavailable',
            detail: 'down for the test',
          }),
        );
      },
      (brokerUrl) =>
        withFakeServer(
          (_request, response) => {
            tokenRequests += 1;
            if (tokenRequests > 1) {
              response.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"no more"}');
              return;
            }
            void harness.github.token(githubClaims(harness.github.url, brokerUrl)).then((value) => {
              response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value }));
            });
          },
          async (tokenUrl) => {
            const directory = await newRunnerDirectory();
            const main = await runStep('main', directory, {
              node,
              inputs: { 'broker-url': brokerUrl, secrets: 'prod/api/DB_PASSWORD', retries: '3' },
              environment: {
                ACTIONS_ID_TOKEN_REQUEST_URL: `${tokenUrl}/idtoken?api-version=2.0`,
                ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token',
              },
            });
            expect(main.code).toBe(1);
            const error = main.stdout.split('\n').find((line) => line.startsWith('::error::')) ?? '';
            expect(error).toContain(
              '::error::The broker is unavailable and released nothing (unavailable): down for the test',
            );
            expect(error).toContain('The client gave up after 1 attempt(s)');
            expect(error).toContain('could not get an OIDC ID token');
          },
        ),
    );
    expect(tokenRequests).toBe(2);
  });
});

describeEachNode('the action writes file-format dotenv for dotenv readers', (node) => {
  it('writes a file the dotenv package and node --env-file read back exactly', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: {
        'broker-url': harness.url,
        audience: TEST_AUDIENCE,
        secrets: Object.keys(carried)
          .map((name) => `prod/api/${name}`)
          .join('\n'),
        file: 'secrets.env',
        'export-env': 'false',
      },
    });
    expect(main.code, main.stdout).toBe(0);
    const file = join(directory.workspace, 'secrets.env');
    expect(dotenv.parse(await readFile(file, 'utf8'))).toEqual(carried);
    const names = JSON.stringify(Object.keys(carried));
    const readBack = await run(
      process.execPath,
      [
        `--env-file=${file}`,
        '-e',
        `process.stdout.write(JSON.stringify(Object.fromEntries(${names}.map((name) => [name, process.env[name]]))))`,
      ],
      { env: { PATH: process.env.PATH } },
    );
    expect(JSON.parse(readBack.stdout)).toEqual(carried);
  });

  it('refuses a value the format cannot carry, naming the secret, and writes nothing', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: {
        'broker-url': harness.url,
        audience: TEST_AUDIENCE,
        secrets: 'prod/api/DB_PASSWORD\nprod/api/REFUSED',
        file: 'secrets.env',
      },
    });
    expect(main.code).toBe(1);
    expect(main.stdout).toContain(
      '::error::Nothing was written: the dotenv format cannot carry the value of secret "prod/api/REFUSED" (REFUSED)',
    );
    expect(await readdir(directory.workspace)).toEqual([]);
    expect(main.env).toEqual({});
    const notMasks = main.stdout
      .split('\n')
      .filter((line) => !line.startsWith('::add-mask::'))
      .join('\n');
    expect(findLeaks([refusedValue, password], { stdout: notMasks, stderr: main.stderr })).toEqual([]);
  });
});

describeEachNode('mask-derived', (node) => {
  it('masks standard base64 (with and without padding) along with hex, base64url and URL forms', async () => {
    const value = carried.SINGLE as string;
    const bytes = Buffer.from(value, 'utf8');
    const masked = async (maskDerived: string): Promise<string[]> => {
      const main = await runStep('main', await newRunnerDirectory(), {
        node,
        tokenEndpoint: tokens,
        inputs: {
          'broker-url': harness.url,
          audience: TEST_AUDIENCE,
          secrets: 'prod/api/SINGLE',
          'mask-derived': maskDerived,
        },
      });
      expect(main.code, main.stdout).toBe(0);
      return main.stdout
        .split('\n')
        .filter((line) => line.startsWith('::add-mask::'))
        .map((line) =>
          line
            .slice('::add-mask::'.length)
            .replaceAll('%0D', '\r')
            .replaceAll('%0A', '\n')
            .replaceAll('%25', '%'),
        );
    };
    const forms = [
      bytes.toString('hex'),
      bytes.toString('base64'),
      bytes.toString('base64').replace(/=+$/, ''),
      bytes.toString('base64url'),
      encodeURIComponent(value),
    ];
    // The value was chosen so that its padded base64 differs from the unpadded one.
    expect(bytes.toString('base64').endsWith('=')).toBe(true);
    const derived = await masked('true');
    for (const form of forms) expect(derived).toContain(form);
    const plain = await masked('false');
    for (const form of forms) expect(plain).not.toContain(form);
  });
});
