/**
 * Versions (`NAME@1`), alternatives (`a|b`, first granted and stored wins) and discovery (`list-only`,
 * `secrets-fetch list`) through the bundles as the runner and a job run them, against the real broker: the
 * right value under the right variable, the alternative used said in the log and the job summary (never a
 * value), and a list that fetches nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { run } from '../helpers/child-process.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { gitlabClaims } from '../helpers/oidc-issuer.js';
import { distFile, newRunnerDirectory, runStep } from '../helpers/runner.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

let harness: BrokerHarness;
let tokens: TokenEndpoint;
const values = {
  old: canary('versions-old'),
  current: canary('versions-current'),
  db: canary('fallback-db'),
  slack: canary('fallback-slack'),
  web: canary('fallback-web'),
  webOld: canary('versions-web-old'),
  webCurrent: canary('versions-web-current'),
};

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  expect(await harness.setSecret('prod/api/ROTATING', values.old)).toBe(1);
  expect(await harness.setSecret('prod/api/ROTATING', values.current)).toBe(2);
  await harness.setSecret('prod/api/DB_PASSWORD', values.db);
  await harness.setSecret('shared/SLACK_WEBHOOK', values.slack);
  await harness.setSecret('prod/web/DB_PASSWORD', values.web);
  await harness.setSecret('prod/web/ROTATING', values.webOld);
  await harness.setSecret('prod/web/ROTATING', values.webCurrent);
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

const actionInputs = (overrides: Record<string, string>) => ({
  'broker-url': harness.url,
  audience: TEST_AUDIENCE,
  'timeout-seconds': '10',
  ...overrides,
});

describeEachNode('the action with versions and alternatives', (node) => {
  it('exports the version asked for, the first alternative granted and stored, and says which one', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs({
        secrets: [
          'OLD=prod/api/ROTATING@1',
          'prod/api/ROTATING',
          // Granted, not stored: the shared one is used.
          'SLACK=prod/api/SLACK_WEBHOOK|shared/SLACK_WEBHOOK',
          // Not granted: the next one is used.
          'DB_PASSWORD=other/DB_PASSWORD|prod/api/DB_PASSWORD',
        ].join('\n'),
      }),
    });
    expect(main.code, main.stdout).toBe(0);
    expect(main.env).toMatchObject({
      OLD: values.old,
      ROTATING: values.current,
      SLACK: values.slack,
      DB_PASSWORD: values.db,
    });
    expect(main.stdout).toContain(
      'SLACK from shared/SLACK_WEBHOOK (prod/api/SLACK_WEBHOOK not granted or not stored)',
    );
    expect(main.stdout).toContain(
      'DB_PASSWORD from prod/api/DB_PASSWORD (other/DB_PASSWORD not granted or not stored)',
    );
    expect(main.summary).toContain('<th>Alternative used</th>');
    expect(main.summary).toContain(
      '<tr><td>shared/SLACK_WEBHOOK</td><td>SLACK</td><td>1</td><td>prod/api/SLACK_WEBHOOK not granted or not stored</td></tr>',
    );
    expect(main.summary).toContain('<tr><td>prod/api/ROTATING</td><td>OLD</td><td>1</td><td></td></tr>');
    // One name a secret, however many versions of it were released.
    expect((JSON.parse(main.outputs.names as string) as string[]).sort()).toEqual([
      'prod/api/DB_PASSWORD',
      'prod/api/ROTATING',
      'shared/SLACK_WEBHOOK',
    ]);
    // Every value is on an add-mask line for the runner, and nowhere else.
    const logged = main.stdout
      .split('\n')
      .filter((line) => !line.startsWith('::add-mask::'))
      .join('\n');
    const shown = { stdout: logged, stderr: main.stderr, summary: main.summary };
    expect(findLeaks(Object.values(values), shown)).toEqual([]);
  });

  it('an entry none of whose alternatives is granted fails the step, and nothing is exported', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs({ secrets: 'DB_PASSWORD=other/DB_PASSWORD|more/DB_PASSWORD' }),
    });
    expect(main.code).toBe(1);
    expect(main.stdout).toContain('policy_denied');
    expect(main.env).toEqual({});
  });
});

describeEachNode('the action with list-only', (node) => {
  it('sets names and versions from the broker and fetches, exports and writes nothing else', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs({ 'list-only': 'true' }),
    });
    expect(main.code, main.stdout).toBe(0);
    expect(JSON.parse(main.outputs.names as string)).toEqual([
      'prod/api/DB_PASSWORD',
      'prod/api/ROTATING',
      'shared/SLACK_WEBHOOK',
    ]);
    expect(JSON.parse(main.outputs.versions as string)).toEqual({
      'prod/api/DB_PASSWORD': 1,
      'prod/api/ROTATING': 2,
      'shared/SLACK_WEBHOOK': 1,
    });
    expect(Object.keys(main.outputs).sort()).toEqual(['names', 'versions']);
    expect(main.env).toEqual({});
    expect(main.state).toEqual({});
    expect(main.stdout).not.toContain('::add-mask::canary');
    expect(findLeaks(Object.values(values), { stdout: main.stdout, summary: main.summary })).toEqual([]);
  });

  it('narrows the list to the patterns of the secrets input', async () => {
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs({ 'list-only': 'true', secrets: '# the API only\nprod/api/*' }),
    });
    expect(main.code, main.stdout).toBe(0);
    expect(JSON.parse(main.outputs.names as string)).toEqual(['prod/api/DB_PASSWORD', 'prod/api/ROTATING']);
  });

  it('refuses run with list-only before any token is requested', async () => {
    const before = tokens.audiences.length;
    const directory = await newRunnerDirectory();
    const main = await runStep('main', directory, {
      node,
      tokenEndpoint: tokens,
      inputs: actionInputs({ 'list-only': 'true', run: 'env' }),
    });
    expect(main.code).toBe(1);
    expect(main.stdout).toContain('list-only fetches no value, so the run input has nothing to use');
    expect(tokens.audiences.length).toBe(before);
  });
});

const gitlabToken = () => harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE));
/** Runs the bundled secrets-fetch with `node` and one GitLab token in T. */
const secretsFetch = async (node: string, args: readonly string[]) =>
  run(node, [distFile('secrets-fetch.js'), ...args, '--broker', harness.url, '--token-env', 'T'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, T: await gitlabToken() },
  });

describeEachNode('secrets-fetch with versions, alternatives and list', (node) => {
  it('prints the version asked for and the alternative used, saying which on stderr', async () => {
    const result = await secretsFetch(node, [
      '--format',
      'json',
      '--secret',
      'OLD=prod/web/ROTATING@1',
      '--secret',
      'DB_PASSWORD=prod/web/override/DB_PASSWORD|prod/web/DB_PASSWORD',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ OLD: values.webOld, DB_PASSWORD: values.web });
    expect(result.stderr).toContain(
      'secrets-fetch: DB_PASSWORD from prod/web/DB_PASSWORD (prod/web/override/DB_PASSWORD not granted or not stored)',
    );
    expect(findLeaks(Object.values(values), { stderr: result.stderr })).toEqual([]);
  });

  it('list prints NAME VERSION lines of what the job may read, or JSON', async () => {
    const lines = await secretsFetch(node, ['list']);
    expect(lines.code, lines.stderr).toBe(0);
    expect(lines.stdout).toBe('prod/web/DB_PASSWORD 1\nprod/web/ROTATING 2\n');
    const json = await secretsFetch(node, ['list', '--json', '--secret', 'prod/web/ROT*']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([{ name: 'prod/web/ROTATING', version: 2 }]);
    expect(findLeaks(Object.values(values), { lines: lines.stdout, json: json.stdout })).toEqual([]);
  });
});
