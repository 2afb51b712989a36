/**
 * The action's own runner commands (src/action/runner-commands.ts) against the runner's documented formats:
 * inputs from INPUT_<NAME>, file commands as `{name}<<{delimiter}` / value / `{delimiter}` (docs.github.com,
 * "Workflow commands for GitHub Actions", multiline strings), workflow commands on stdout with %, CR and LF
 * escaped as %25, %0D and %0A, and the job summary's HTML as @actions/core's summary builder wrote it.
 */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  appendStepSummary,
  escapeData,
  exportVariable,
  getInput,
  getState,
  info,
  keyValueEntry,
  saveState,
  setFailed,
  setOutput,
  setSecret,
  setSecrets,
  summaryTable,
  warning,
} from '../../src/action/runner-commands.js';
import { parseFileCommands } from '../helpers/runner.js';

/** What the runner does with a workflow command's data: %0D, %0A and %25 back to CR, LF and %. */
const unescapeData = (text: string): string =>
  text.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%');

let stdout: string[];
const savedEnvironment = { ...process.env };

beforeEach(() => {
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.env = { ...savedEnvironment };
  process.exitCode = undefined;
});

describe('inputs and state', () => {
  it('reads INPUT_ with spaces as underscores, upper-cased, trimmed; unset is empty', () => {
    const environment = {
      'INPUT_BROKER-URL': '  https://broker.example \n',
      INPUT_MY_INPUT: ' value ',
      INPUT_SECRETS: '\n  a\n  b\n',
    };
    expect(getInput('broker-url', environment)).toBe('https://broker.example');
    expect(getInput('my input', environment)).toBe('value');
    expect(getInput('My Input', environment)).toBe('value');
    expect(getInput('secrets', environment)).toBe('a\n  b');
    expect(getInput('absent', environment)).toBe('');
  });

  it('reads the state the runner passes to the post step as STATE_<name>', () => {
    expect(getState('created', { STATE_created: '{"files":[]}' })).toBe('{"files":[]}');
    expect(getState('created', {})).toBe('');
  });
});

describe('workflow commands on stdout', () => {
  it('escapes %, CR and LF so a value stays one command line, and the runner decodes it back', () => {
    expect(escapeData('50%\r\nnext %0A')).toBe('50%25%0D%0Anext %250A');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const escaped = escapeData(text);
        expect(escaped).not.toMatch(/[\r\n]/);
        expect(unescapeData(escaped)).toBe(text);
      }),
    );
  });

  it('masks with ::add-mask::, warns with ::warning::, and fails with ::error:: and exit code 1', () => {
    setSecret('line one\nline%two');
    warning('careful\n::error::not a command');
    info('plain text');
    expect(process.exitCode).toBeUndefined();
    setFailed('broken');
    expect(stdout.join('')).toBe(
      '::add-mask::line one%0Aline%25two\n' +
        '::warning::careful%0A::error::not a command\n' +
        'plain text\n' +
        '::error::broken\n',
    );
    expect(process.exitCode).toBe(1);
  });
});

describe('masking many values', () => {
  it('writes one add-mask line per value, escaped, in order, in one write', () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      setSecrets(['a', 'b\nc', '50%']);
      setSecrets([]);
    } finally {
      spy.mockRestore();
    }
    expect(writes).toEqual(['::add-mask::a\n::add-mask::b%0Ac\n::add-mask::50%25\n']);
  });
});

describe('file commands', () => {
  it('writes {name}<<{delimiter}, the value and the delimiter, each on its own line', () => {
    expect(keyValueEntry('NAME', 'a\nb', 'ghadelimiter_x')).toBe(
      'NAME<<ghadelimiter_x\na\nb\nghadelimiter_x\n',
    );
    const entry = keyValueEntry('NAME', 'value');
    expect(entry).toMatch(
      /^NAME<<(ghadelimiter_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\nvalue\n\1\n$/,
    );
    expect(keyValueEntry('NAME', 'value')).not.toBe(entry);
  });

  it("refuses a name that would let the value's lines be read as entries of their own", () => {
    for (const name of ['A=B', 'A\nNODE_OPTIONS', 'A\rB', 'A<<B', '']) {
      expect(() => keyValueEntry(name, 'NODE_OPTIONS=--require ./x.js')).toThrow(
        'cannot be a file-command name',
      );
    }
  });

  it('refuses a name or value that holds the delimiter, naming neither the value nor the delimiter', () => {
    expect(() => keyValueEntry('NAME', 'x\nghadelimiter_d\ny', 'ghadelimiter_d')).toThrow(
      'the value of NAME holds the file-command delimiter',
    );
    expect(() => keyValueEntry('A_ghadelimiter_d', 'v', 'ghadelimiter_d')).toThrow(
      'cannot be a file-command name',
    );
  });

  it('round-trips any value through the runner-format parser', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (value) => {
        const parsed = parseFileCommands(keyValueEntry('NAME', value.replaceAll('\r', '')));
        expect(parsed).toEqual({ NAME: value.replaceAll('\r', '') });
      }),
    );
  });

  it('appends to GITHUB_ENV, GITHUB_OUTPUT and GITHUB_STATE', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'action-commands-'));
    for (const name of ['GITHUB_ENV', 'GITHUB_OUTPUT', 'GITHUB_STATE']) {
      process.env[name] = join(directory, name);
      await writeFile(join(directory, name), 'EARLIER=1\n');
    }
    exportVariable('TOKEN', 'multi\nline');
    setOutput('names', '["a"]');
    setOutput('other', '%0A stays as it is');
    saveState('created', '{}');
    expect(parseFileCommands(await readFile(join(directory, 'GITHUB_ENV'), 'utf8'))).toEqual({
      EARLIER: '1',
      TOKEN: 'multi\nline',
    });
    expect(parseFileCommands(await readFile(join(directory, 'GITHUB_OUTPUT'), 'utf8'))).toEqual({
      EARLIER: '1',
      names: '["a"]',
      other: '%0A stays as it is',
    });
    expect(parseFileCommands(await readFile(join(directory, 'GITHUB_STATE'), 'utf8'))).toEqual({
      EARLIER: '1',
      created: '{}',
    });
    expect(stdout).toEqual([]);
  });

  it('fails, printing nothing, when the file command is not set or its file is missing', async () => {
    delete process.env.GITHUB_OUTPUT;
    expect(() => setOutput('name', 'secret-value')).toThrow('GITHUB_OUTPUT is not set');
    process.env.GITHUB_ENV = join(await mkdtemp(join(tmpdir(), 'action-commands-')), 'missing');
    expect(() => exportVariable('NAME', 'secret-value')).toThrow(
      'GITHUB_ENV names a file that does not exist',
    );
    expect(stdout).toEqual([]);
  });
});

describe('the job summary', () => {
  it('renders the heading and table as @actions/core did', () => {
    expect(
      summaryTable('Secrets', [
        [
          { data: 'Secret', header: true },
          { data: 'Version', header: true },
        ],
        [{ data: 'a&amp;b' }, { data: '1' }],
      ]),
    ).toBe(
      '<h3>Secrets</h3>\n<table><tr><th>Secret</th><th>Version</th></tr><tr><td>a&amp;b</td><td>1</td></tr></table>\n',
    );
  });

  it('appends to GITHUB_STEP_SUMMARY, and refuses a file it cannot write', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'action-commands-'));
    const summary = join(directory, 'summary');
    await writeFile(summary, 'before\n');
    process.env.GITHUB_STEP_SUMMARY = summary;
    await appendStepSummary('<p>x</p>\n');
    expect(await readFile(summary, 'utf8')).toBe('before\n<p>x</p>\n');
    process.env.GITHUB_STEP_SUMMARY = join(directory, 'missing');
    await expect(appendStepSummary('x')).rejects.toThrow('cannot write the summary file');
    if (process.getuid?.() !== 0) {
      await chmod(summary, 0o400);
      process.env.GITHUB_STEP_SUMMARY = summary;
      await expect(appendStepSummary('x')).rejects.toThrow('cannot write the summary file');
    }
  });
});
