/**
 * File entries of several sources (`ENV=@a+b`, `ENV=@PREFIX/*`, `>FILE_NAME`), the file-divider and file-mode
 * inputs, the joined value and what is masked of it.
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CreatedFiles } from '../../src/action/created-files.js';
import { InputError, parseInputs, parseSecretLines } from '../../src/action/inputs.js';
import { joinedMaskForms, maskForms } from '../../src/action/masking.js';
import { ExportPlanError, itemSecrets, planExports } from '../../src/client/export-plan.js';
import { parseFileDivider, parseFileMode } from '../../src/client/file-entries.js';
import { writeNewPrivateFile, type PrivateFileMode } from '../../src/client/private-files.js';
import { parseSecretFlags, requestedEntries } from '../../src/client/secret-lines.js';

const inputsFrom = (values: Record<string, string>) => (name: string) => values[name] ?? '';
const secret = (name: string, value: string, version = 1) => ({ name, version, value });

const released = [
  secret('prod/age/b', 'AGE-SECRET-KEY-B'),
  secret('prod/age/a', 'AGE-SECRET-KEY-A'),
  secret('prod/age/c', 'AGE-SECRET-KEY-C'),
  secret('prod/x', 'x-value', 2),
  secret('prod/y', 'y\nvalue'),
];

/** The problem an input error reports for one line. */
function lineProblem(line: string): string {
  try {
    parseSecretLines(line);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error(`${line} was accepted`);
}

describe('file entries: the grammar', () => {
  it('reads sources in the order written, versions and optional markers per source, and a file name', () => {
    const [line] = parseSecretLines('KEYS=@prod/y+prod/x@2+prod/opt?+prod/age/*>age.keys');
    expect(line!.toFile).toBe(true);
    expect(line!.envName).toBe('KEYS');
    expect(line!.file!.name).toBe('age.keys');
    expect(line!.file!.sources.map((source) => [source.raw, source.optional, source.isPattern])).toEqual([
      ['prod/y', false, false],
      ['prod/x@2', false, false],
      ['prod/opt?', true, false],
      ['prod/age/*', false, true],
    ]);
    expect(line!.entry.raw).toBe('prod/y');
  });

  it('keeps ENV=@NAME (alternatives too) as it was, and allows ENV=@PREFIX/* alone', () => {
    const [single, alternatives, pattern] = parseSecretLines('A=@prod/x\nB=@prod/x|prod/y\nC=@prod/age/*');
    expect(single!.file).toEqual({ sources: [single!.entry], name: undefined });
    expect(alternatives!.entry.alternatives.map((reference) => reference.name)).toEqual(['prod/x', 'prod/y']);
    expect(pattern!.entry.isPattern).toBe(true);
    expect(() => parseSecretLines('C=prod/age/*')).toThrow('a pattern cannot be given one variable name');
  });

  it('asks the broker for each source once, in the order first written', () => {
    expect(requestedEntries(parseSecretLines('prod/x\nK=@prod/y+prod/x+prod/age/*\nL=@prod/y'))).toEqual([
      'prod/x',
      'prod/y',
      'prod/age/*',
    ]);
  });

  it.each([
    ['K=@', 'nothing follows "@": write ENV=@NAME, ENV=@a+b (several secrets) or ENV=@PREFIX/*'],
    ['K=@+prod/a', 'source 1 is empty (a leading, trailing or doubled "+")'],
    ['K=@prod/a+', 'source 2 is empty (a leading, trailing or doubled "+")'],
    ['K=@prod/a++prod/b', 'source 2 is empty'],
    [
      'K=@prod/a+prod/b|prod/c',
      'source 2 ("prod/b|prod/c") lists alternatives: a file of several sources takes none',
    ],
    ['K=@prod/a+prod/a', 'it lists "prod/a" twice'],
    ['K=@prod/a+prod/b@0', 'source 2 ("prod/b@0"): "prod/b@0": versions start at 1'],
    ['K=@prod/a+prod/*@2', '"prod/*" is a pattern: only names can be given a version'],
    ['K=@prod/a+../b', 'source 2 ("../b"): "../b": the name has a ".." segment'],
    ['@prod/a+prod/b', '"@" needs a variable name'],
    ['K=@prod/a>', 'nothing follows ">"'],
    ['K=@prod/a>dir/keys', 'the file name "dir/keys" holds a path separator'],
    ['K=@prod/a>..', '".." is not a file name'],
    ['K=@prod/a>.', '"." is not a file name'],
    ['K=@prod/a>..\\x', 'holds a path separator'],
    ['K=@prod/a>k>l', 'the file name "k>l" has a character outside'],
    ['K=@prod/a>a b', 'the file name "a b" has a character outside'],
    ['K=@prod/a>k\u202e', 'has a character outside'],
    [`K=@prod/a>${'n'.repeat(256)}`, 'the file name is 256 characters long; the limit is 255'],
  ])('refuses %j', (line, problem) => {
    expect(lineProblem(line)).toContain(problem);
  });

  it('refuses 101 sources in one file, and more than 100 entries in one step, before any token', () => {
    const sources = (count: number) => Array.from({ length: count }, (_, index) => `prod/s${index}`);
    expect(lineProblem(`K=@${sources(101).join('+')}`)).toContain(
      'it joins 101 sources; a file joins at most 100',
    );
    expect(parseSecretLines(`K=@${sources(100).join('+')}`)[0]!.file!.sources).toHaveLength(100);
    expect(lineProblem(`K=@${sources(100).join('+')}\nprod/other`)).toContain(
      'asks for 101 names and patterns (each source of a file counted); the broker takes at most 100',
    );
    // Counted without splitting first: a line of a million "+" is refused as cheaply.
    expect(lineProblem(`K=@a${'+a'.repeat(1_000_000)}`)).toContain('it joins 1000001 sources');
  });

  it('refuses two variables whose files would have the same name', () => {
    expect(lineProblem('A=@prod/a>B\nB=@prod/b')).toContain(
      'secrets line 1 (A) and line 2 (B) would both write the file B: give one another name with ">"',
    );
    expect(parseSecretLines('A=@prod/a>keys\nA=@prod/a>keys')).toHaveLength(2);
  });

  it('secrets-fetch still refuses file entries', () => {
    expect(() => parseSecretFlags(['K=@prod/a+prod/b'])).toThrow(
      'ENV=@NAME is for the GitHub Action; write a file with --out instead',
    );
  });
});

describe('file entries: the joined value', () => {
  const plan = (text: string, divider?: string) => planExports(parseSecretLines(text), released, divider);

  it('joins named sources in the order written and pattern matches in name order, divider between only', () => {
    const [item] = plan('KEYS=@prod/y+prod/age/*+prod/x@2', '\n---\n');
    expect(item!.value).toBe(
      'y\nvalue\n---\nAGE-SECRET-KEY-A\n---\nAGE-SECRET-KEY-B\n---\nAGE-SECRET-KEY-C\n---\nx-value',
    );
    expect(item!.toFile).toBe(true);
    expect(item!.fileName).toBe('KEYS');
    expect(itemSecrets(item!)).toBe('prod/y v1 + prod/age/a v1 + prod/age/b v1 + prod/age/c v1 + prod/x v2');
    expect(plan('KEYS=@prod/age/*')[0]!.value).toBe('AGE-SECRET-KEY-A\nAGE-SECRET-KEY-B\nAGE-SECRET-KEY-C');
  });

  it('writes a source named in the file at its own place, not again through a pattern of the file', () => {
    expect(plan('KEYS=@prod/age/b+prod/age/*', ',')[0]!.value).toBe(
      'AGE-SECRET-KEY-B,AGE-SECRET-KEY-A,AGE-SECRET-KEY-C',
    );
    expect(plan('KEYS=@prod/age/*+prod/age/[ab]', ',')[0]!.value).toBe(
      'AGE-SECRET-KEY-A,AGE-SECRET-KEY-B,AGE-SECRET-KEY-C',
    );
  });

  it('leaves out optional sources that were not released, and the whole file when none was', () => {
    expect(plan('K=@prod/missing?+prod/x+prod/gone/*?', '|')[0]!.value).toBe('x-value');
    expect(plan('K=@prod/missing?+prod/gone/*?\nprod/x').map((item) => item.envName)).toEqual(['X']);
  });

  it('refuses a pattern source that matched nothing, naming every one, and plans nothing', () => {
    expect(() => plan('K=@prod/gone/*+prod/x\nL=@prod/none/*')).toThrow(
      new ExportPlanError(
        [
          'K (line 1): no granted and stored secret matches "prod/gone/*"; store one, have the policy grant it, or mark the source optional ("prod/gone/*?")',
          'L (line 2): no granted and stored secret matches "prod/none/*"; store one, have the policy grant it, or mark the source optional ("prod/none/*?")',
        ].join('\n'),
      ),
    );
  });

  it('keeps a secret named in a file out of the variables of another pattern, like any named entry', () => {
    const keys = [secret('prod/k/A_KEY', 'a'), secret('prod/k/B_KEY', 'b'), secret('prod/x', 'x')];
    const items = planExports(parseSecretLines('prod/k/*\nK=@prod/k/A_KEY+prod/x'), keys);
    expect(items.map((item) => [item.envName, item.value])).toEqual([
      ['B_KEY', 'b'],
      ['K', 'a\nx'],
    ]);
  });

  it('refuses one variable for two different files', () => {
    expect(() => plan('K=@prod/x+prod/y\nK=@prod/y+prod/x')).toThrow(/would both be K/);
    expect(() => plan('K=@prod/x>a\nK=@prod/x>b')).toThrow('K is set by two entries that differ');
    expect(plan('K=@prod/x+prod/y\nK=@prod/x+prod/y')).toHaveLength(1);
  });
});

describe('file entries: masking', () => {
  it('masks the whole and each line where two values meet, but not a divider line alone', () => {
    const content = 'one\nAGE-1,AGE-2\nlast';
    const forms = joinedMaskForms(content, ',', false);
    expect(forms).toEqual(expect.arrayContaining([content, 'AGE-1,AGE-2']));
    const dashed = joinedMaskForms('AGE-1\n---\nAGE-2', '\n---\n', true);
    expect(dashed).toContain('AGE-1\n---\nAGE-2');
    expect(dashed).not.toContain('---');
    expect(dashed).not.toContain(Buffer.from('---').toString('base64'));
    // Derived forms of the whole, as for any value.
    expect(dashed).toEqual(expect.arrayContaining(maskForms('AGE-1\n---\nAGE-2', true).slice(0, 1)));
    expect(dashed).toContain(Buffer.from('AGE-1\n---\nAGE-2').toString('base64'));
  });
});

describe('file-divider and file-mode inputs', () => {
  it.each([
    ['', '\n'],
    ['\\n', '\n'],
    ['\\n---\\n', '\n---\n'],
    ['\\t|\\r\\n', '\t|\r\n'],
    ['\\\\', '\\'],
    [',', ','],
  ])('reads the divider %j', (text, divider) => {
    expect(parseFileDivider(text)).toEqual({ value: divider });
  });

  it.each([
    ['a\u0000b', 'control or invisible character'],
    ['a\u001b[31m', 'control or invisible character'],
    ['a\tb', 'control or invisible character'],
    ['a\nb', 'control or invisible character'],
    ['\u202e', 'control or invisible character'],
    ['\u0085', 'control or invisible character'],
    ['\\x00', 'has "\\x" at character 1: the escapes are \\n, \\r, \\t and \\\\'],
    ['a\\', 'has "\\" at character 2'],
    ['x'.repeat(257), 'the limit is 256'],
  ])('refuses the divider %j', (text, problem) => {
    const checked = parseFileDivider(text);
    expect('problem' in checked && checked.problem).toContain(problem);
  });

  it.each([
    ['', 0o600],
    ['0600', 0o600],
    ['600', 0o600],
    ['0640', 0o640],
    ['640', 0o640],
  ])('reads the mode %j', (text, mode) => {
    expect(parseFileMode(text)).toEqual({ value: mode });
  });

  it.each(['0644', '0777', '0400', '0440', '0660', '0700', 'rw-r-----', '0o640', '-1', '06400', 'x'])(
    'refuses the mode %j',
    (text) => {
      const checked = parseFileMode(text);
      expect('problem' in checked && checked.problem).toContain(
        `the file-mode input must be 0600 (the default: only this job's user may read and write) or 0640`,
      );
    },
  );

  it('parses both as inputs of the action', () => {
    const base = { 'broker-url': 'https://broker.example', secrets: 'K=@prod/a+prod/b' };
    const inputs = parseInputs(inputsFrom({ ...base, 'file-divider': '\\n\\n', 'file-mode': '0640' }));
    expect([inputs.fileDivider, inputs.fileMode]).toEqual(['\n\n', 0o640]);
    const defaults = parseInputs(inputsFrom(base));
    expect([defaults.fileDivider, defaults.fileMode]).toEqual(['\n', 0o600]);
    expect(() => parseInputs(inputsFrom({ ...base, 'file-mode': '0644' }))).toThrow(InputError);
    expect(() => parseInputs(inputsFrom({ ...base, 'file-divider': 'a\u0007' }))).toThrow(InputError);
  });
});

describe('file-mode on disk', () => {
  it.each([0o600, 0o640] as const)(
    'writes a file of mode %o in a directory its group may only enter',
    async (mode) => {
      const root = await mkdtemp(join(tmpdir(), 'file-sources-'));
      const created = new CreatedFiles(() => undefined);
      const directory = await created.makeDirectory(root, mode);
      const path = join(directory, 'keys');
      await created.writeFile(path, 'a\nb', directory, mode);
      expect((await stat(path)).mode & 0o777).toBe(mode);
      expect((await stat(directory)).mode & 0o777).toBe(mode === 0o640 ? 0o710 : 0o700);
      const report = await created.removeAll();
      expect(report.removed).toEqual([path, directory]);
      expect(await readdir(root)).toEqual([]);
    },
  );

  it('refuses any wider mode even when the type is bypassed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'file-sources-'));
    await expect(
      writeNewPrivateFile(join(root, 'x'), 'v', { base: root, mode: 0o644 as PrivateFileMode }),
    ).rejects.toThrow('mode 644 is refused');
    expect(await readdir(root)).toEqual([]);
  });
});
