/**
 * End to end: files joined from several secrets (`ENV=@a+b`, `ENV=@PREFIX/*`), run by the bundled action as the
 * runner runs it, against the real broker: the bytes, the mode, the masks, the post step, and every refusal.
 */
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinedMaskForms, maskForms } from '../../src/action/masking.js';
import { escapeData } from '../../src/action/runner-commands.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { describeEachNode } from '../helpers/node-binaries.js';
import { newRunnerDirectory, runStep, type RunnerDirectory, type StepResult } from '../helpers/runner.js';
import { TokenEndpoint } from '../helpers/token-endpoint.js';

/** Stored under prod/api/ (granted to the test workload); the AGE_ ones also reached through a pattern. */
const stored: Record<string, string> = {
  AGE_2: `AGE-SECRET-KEY-${canary('file-age-2')}`,
  AGE_1: `AGE-SECRET-KEY-${canary('file-age-1')}`,
  AGE_3: `# created: today\nAGE-SECRET-KEY-${canary('file-age-3')}\n`,
  Z_LAST: `-----BEGIN KEY-----\n${canary('file-z-last')}\n-----END KEY-----\n`,
};
const value = (name: string): string => stored[name] as string;

/** What newRunnerDirectory makes: anything else under its root was written by the step. */
const RUNNER_FILES = ['github_env', 'github_output', 'github_state', 'step_summary', 'temp', 'workspace'];

let harness: BrokerHarness;
let tokens: TokenEndpoint;

beforeAll(async () => {
  harness = await BrokerHarness.start();
  tokens = await new TokenEndpoint(harness.github).start();
  for (const [name, secret] of Object.entries(stored)) await harness.setSecret(`prod/api/${name}`, secret);
});

afterAll(async () => {
  await tokens?.stop();
  await harness?.close();
});

function inputs(overrides: Record<string, string>): Record<string, string> {
  return { 'broker-url': harness.url, audience: TEST_AUDIENCE, 'timeout-seconds': '10', ...overrides };
}

/** The main step with these inputs and the endpoint's ID tokens, run by `node` (default: the tests' own). */
function mainStep(
  node: string | undefined,
  directory: RunnerDirectory,
  overrides: Record<string, string>,
): Promise<StepResult> {
  const binary = node === undefined ? {} : { node };
  return runStep('main', directory, { ...binary, tokenEndpoint: tokens, inputs: inputs(overrides) });
}

/** Every form of each source and of each joined content is masked, in one block before any other output. */
function expectMaskedFirst(
  result: StepResult,
  sources: readonly string[],
  joined: readonly string[][],
): void {
  const lines = result.stdout.split('\n');
  const forms = [
    ...sources.flatMap((source) => maskForms(source, true)),
    ...joined.flatMap(([content, divider]) => joinedMaskForms(content as string, divider as string, true)),
  ];
  const expected = new Set(forms.map((form) => `::add-mask::${escapeData(form)}`));
  for (const line of expected) expect(lines).toContain(line);
  // The whole of each file, not only its sources, is among them.
  for (const [content] of joined) expect(lines).toContain(`::add-mask::${escapeData(content as string)}`);
  const indexes = lines.flatMap((line, index) => (expected.has(line) ? [index] : []));
  const last = Math.max(...indexes);
  // Nothing but masks up to the last of them (the ID token's mask comes first).
  for (const line of lines.slice(0, last + 1)) expect(line.startsWith('::add-mask::')).toBe(true);
  const otherOutput = [...lines.filter((line) => !line.startsWith('::add-mask::')), result.stderr].join('\n');
  expect(findLeaks([...sources, ...joined.map(([content]) => content as string)], { otherOutput })).toEqual(
    [],
  );
}

/** Failed, and no file, no GITHUB_ENV or GITHUB_OUTPUT line, no state for the post step. */
async function expectNothingWritten(directory: RunnerDirectory, result: StepResult): Promise<void> {
  const written = [
    result.env,
    result.outputs,
    result.state,
    ...(await readdir(directory.root, { recursive: true })).sort(),
  ];
  expect([result.code, written]).toEqual([1, [{}, {}, {}, ...RUNNER_FILES]]);
}

describeEachNode('the action writes one file from several secrets', (node) => {
  it('joins in order with the divider, 0600, masks every source and the whole first; post removes it', async () => {
    const directory = await newRunnerDirectory();
    const main = await mainStep(node, directory, {
      secrets: [
        'SOPS_AGE_KEY_FILE=@prod/api/AGE_*',
        'KEYS=@prod/api/Z_LAST+prod/api/NOT_STORED?+prod/api/AGE_1>keys.txt',
      ].join('\n'),
      'file-divider': '\\n---\\n',
    });
    expect(main.stderr).toBe('');
    expect(main.code, main.stdout).toBe(0);
    const ages = `${value('AGE_1')}\n---\n${value('AGE_2')}\n---\n${value('AGE_3')}`;
    const keys = `${value('Z_LAST')}\n---\n${value('AGE_1')}`;
    expectMaskedFirst(main, Object.values(stored), [
      [ages, '\n---\n'],
      [keys, '\n---\n'],
    ]);

    const agePath = main.env.SOPS_AGE_KEY_FILE as string;
    const keysPath = main.env.KEYS as string;
    expect(dirname(agePath)).toBe(dirname(keysPath));
    expect(dirname(dirname(agePath))).toBe(directory.temp);
    expect(agePath.endsWith('/SOPS_AGE_KEY_FILE')).toBe(true);
    expect(keysPath.endsWith('/keys.txt')).toBe(true);
    expect(await readFile(agePath)).toEqual(Buffer.from(ages, 'utf8'));
    expect(await readFile(keysPath)).toEqual(Buffer.from(keys, 'utf8'));
    for (const path of [agePath, keysPath]) expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(agePath))).mode & 0o777).toBe(0o700);
    expect(main.outputs).toMatchObject({ SOPS_AGE_KEY_FILE: agePath, KEYS: keysPath });
    expect(main.stdout).toContain(
      'prod/api/AGE_1 v1 + prod/api/AGE_2 v1 + prod/api/AGE_3 v1 as SOPS_AGE_KEY_FILE, prod/api/Z_LAST v1 + prod/api/AGE_1 v1 as KEYS',
    );
    expect(main.summary).toContain(
      '<td>prod/api/Z_LAST + prod/api/AGE_1</td><td>KEYS (file path)</td><td>1 + 1</td>',
    );
    expect(
      findLeaks(Object.values(stored), { summary: main.summary, state: JSON.stringify(main.state) }),
    ).toEqual([]);

    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Removed ${agePath}`);
    expect(post.stdout).toContain(`Removed ${keysPath}`);
    expect(await readdir(directory.temp)).toEqual([]);
    const again = await runStep('post', directory, { node, inputs: {} });
    expect(again.stdout).toContain(`Already gone: ${keysPath}`);
  });

  it('writes the chosen mode 0640 (in a directory its group may enter, not list)', async () => {
    const directory = await newRunnerDirectory();
    const main = await mainStep(node, directory, {
      secrets: 'KEYS=@prod/api/AGE_2+prod/api/AGE_1',
      'file-mode': '0640',
      'file-divider': ',',
    });
    expect(main.code, main.stdout).toBe(0);
    const path = main.env.KEYS as string;
    expect(await readFile(path, 'utf8')).toBe(`${value('AGE_2')},${value('AGE_1')}`);
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    expect((await stat(dirname(path))).mode & 0o777).toBe(0o710);
    await runStep('post', directory, { node, inputs: {} });
    expect(await readdir(directory.temp)).toEqual([]);
  });

  it('leaves alone a file that replaced the one it wrote', async () => {
    const directory = await newRunnerDirectory();
    const main = await mainStep(node, directory, { secrets: 'KEYS=@prod/api/AGE_1+prod/api/AGE_2' });
    expect(main.code, main.stdout).toBe(0);
    const path = main.env.KEYS as string;
    await rename(path, join(directory.root, 'moved-away'));
    await writeFile(path, 'not ours');
    const post = await runStep('post', directory, { node, inputs: {} });
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`::warning::Left ${path} as it is: it is now another file`);
    expect(await readFile(path, 'utf8')).toBe('not ours');
  });

  it('names every missing source and writes nothing', async () => {
    const directory = await newRunnerDirectory();
    const result = await mainStep(node, directory, {
      secrets: 'KEYS=@prod/api/AGE_1+prod/api/NOT_STORED+other/NOT_GRANTED+prod/api/GONE',
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain('not granted to this workload: other/NOT_GRANTED');
    expect(result.stdout).toContain('Also granted but not stored: prod/api/NOT_STORED, prod/api/GONE');
    expect(findLeaks(Object.values(stored), { stdout: result.stdout, stderr: result.stderr })).toEqual([]);
  });

  it('names every pattern source that matched nothing, with the missing names, and writes nothing', async () => {
    const directory = await newRunnerDirectory();
    const result = await mainStep(node, directory, {
      secrets: 'KEYS=@prod/api/AGE_1+prod/api/NONE_*+prod/api/GONE\nMORE=@prod/api/NOTHING_*',
    });
    await expectNothingWritten(directory, result);
    expect(result.stdout).toContain(
      'granted but not stored: prod/api/GONE, prod/api/NONE_*, prod/api/NOTHING_*. Nothing was released.',
    );
  });
});

describe('the action refuses bad file entries and inputs before it asks for a token', () => {
  const sources = (count: number) =>
    Array.from({ length: count }, (_, index) => `prod/api/S${index}`).join('+');
  it.each([
    [{ secrets: 'K=@' }, 'nothing follows \\"@\\"'],
    [{ secrets: 'K=@+prod/api/AGE_1' }, 'source 1 is empty'],
    [{ secrets: 'K=@prod/api/AGE_1+' }, 'source 2 is empty'],
    [{ secrets: `K=@${sources(101)}` }, 'it joins 101 sources; a file joins at most 100'],
    [{ secrets: 'K=@prod/api/AGE_1>../x' }, 'holds a path separator'],
    [{ secrets: 'K=@prod/api/AGE_1>a/b' }, 'holds a path separator'],
    [{ secrets: 'K=@prod/api/AGE_1>..' }, '\\"..\\" is not a file name'],
    [{ secrets: 'K=@prod/api/AGE_1', 'file-mode': '0644' }, 'the file-mode input must be 0600'],
    [{ secrets: 'K=@prod/api/AGE_1', 'file-mode': '0777' }, 'the file-mode input must be 0600'],
    [{ secrets: 'K=@prod/api/AGE_1', 'file-mode': 'garbage' }, 'not \\"garbage\\"'],
    [
      { secrets: 'K=@prod/api/AGE_1', 'file-divider': 'a\u001b]0;x\u0007b' },
      'control or invisible character',
    ],
    [{ secrets: 'K=@prod/api/AGE_1', 'file-divider': '\\u0000' }, 'has \\"\\\\u\\" at character 1'],
  ])('%j', async (overrides, problem) => {
    const directory = await newRunnerDirectory();
    const before = tokens.audiences.length;
    const result = await mainStep(undefined, directory, overrides);
    await expectNothingWritten(directory, result);
    const error = result.stdout.split('\n').find((line) => line.startsWith('::error::')) ?? '';
    expect(error).toContain('::error::Invalid input:');
    expect(error).toContain(problem.replaceAll('\\"', '"').replaceAll('\\\\', '\\'));
    // Nothing the runner could read as a command, nor a raw control character, in the step's output.
    expect([...result.stdout].filter((character) => character < ' ' && character !== '\n')).toEqual([]);
    expect(tokens.audiences.length).toBe(before);
  });
});
