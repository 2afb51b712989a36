/**
 * The dotenv and shell formats, read back by the real readers: the `dotenv` package's parse, `node --env-file`
 * (a child process of the Node running the tests) and bash's `set -a; . FILE`. A value is either read back
 * exactly by every reader or refused, naming the secret and never the value.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { describe, expect, it } from 'vitest';
import {
  FormatError,
  formatDotenv,
  formatGithubEnv,
  formatJson,
  formatShell,
  type NamedValue,
} from '../../src/client/formats.js';
import { run } from '../helpers/child-process.js';

/** Every value a dotenv file written by secrets-fetch or the action must carry exactly. */
const CARRIED: readonly NamedValue[] = [
  { name: 'SINGLE', value: "it's" },
  { name: 'DOUBLE', value: 'say "hi"' },
  { name: 'BACKQUOTE', value: 'run `id` later' },
  { name: 'SINGLE_HASH', value: "it's a # hash = fine" },
  { name: 'ONLY_SINGLE', value: "'" },
  { name: 'ONLY_DOUBLE', value: '"' },
  { name: 'HASH', value: '#not a comment' },
  { name: 'HASH_AFTER_SPACE', value: 'value # not a comment' },
  { name: 'DOLLARS', value: '$HOME ${PATH} $(id)' },
  { name: 'BACKSLASHES', value: 'C:\\path\\n\\t\\r\\\\x' },
  { name: 'SPACES', value: '  leading and trailing  ' },
  { name: 'TAB', value: '\tx\t' },
  { name: 'EQUALS', value: '=a=b==c=' },
  { name: 'NEWLINES', value: 'one\ntwo\n\nthree\n' },
  { name: 'NEWLINE_FIRST', value: '\nNEXT=injected' },
  { name: 'LOOKS_LIKE_LINES', value: "x\nB='y'\nexport C=z\n# comment" },
  { name: 'MULTILINE_SINGLE', value: "line one\nit's line two" },
  { name: 'UNICODE', value: 'päss🔑 ключ 鍵 \u00a0nbsp\u2028ls\u2029ps\ufeffbom' },
  { name: 'CONTROL', value: 'bell\u0007esc\u001b[2J' },
  { name: 'EMPTY', value: '' },
  { name: 'SPACE', value: ' ' },
  { name: 'PEM', value: '-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----' },
];

/** Values no dotenv quoting carries to every reader, each with the words of its refusal. */
const REFUSED: readonly [NamedValue, string][] = [
  [{ name: 'CR', value: 'a\r\nb', secretName: 'prod/x/CR' }, 'carriage return'],
  [{ name: 'LONE_CR', value: 'a\rb', secretName: 'prod/x/LONE_CR' }, 'carriage return'],
  [{ name: 'NUL', value: 'a\0b', secretName: 'prod/x/NUL' }, 'NUL character'],
  [{ name: 'TRAILING_BACKSLASH', value: 'C:\\dir\\', secretName: 'prod/x/TB' }, 'ends in a backslash'],
  [{ name: 'SINGLE_DOUBLE', value: `it's "quoted"`, secretName: 'prod/x/SD' }, 'single quote and one of'],
  [{ name: 'SINGLE_DOLLAR', value: "it's $HOME", secretName: 'prod/x/SDOL' }, 'single quote and one of'],
  [{ name: 'SINGLE_BACKQUOTE', value: "it's `id`", secretName: 'prod/x/SB' }, 'single quote and one of'],
  [{ name: 'SINGLE_BACKSLASH', value: "it\\'s", secretName: 'prod/x/SBS' }, 'single quote and one of'],
];

async function tempFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'client-formats-')), 'secrets.env');
  await writeFile(file, text);
  return file;
}

const asObject = (values: readonly NamedValue[]): Record<string, string> =>
  Object.fromEntries(values.map(({ name, value }) => [name, value]));

/** What `node --env-file=FILE` puts in process.env for these names (a real child process). */
async function nodeEnvFile(file: string, names: readonly string[]): Promise<Record<string, unknown>> {
  const script = `const out = {}; for (const name of ${JSON.stringify(names)}) out[name] = process.env[name] ?? null; process.stdout.write(JSON.stringify(out));`;
  const result = await run(process.execPath, [`--env-file=${file}`, '-e', script], {
    env: { PATH: process.env.PATH },
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** What bash's `set -a; . FILE` exports for these names, NUL-separated so any value comes back whole. */
async function bashSource(file: string, names: readonly string[]): Promise<Record<string, string>> {
  const script = `set -a; . "$1"; printf '%s\\0' ${names.map((name) => `"$${name}"`).join(' ')}`;
  const result = await run('bash', ['--noprofile', '--norc', '-c', script, 'bash', file], {
    env: { PATH: process.env.PATH },
  });
  expect(result.stderr).toBe('');
  const values = result.stdout.split('\0');
  return Object.fromEntries(names.map((name, index) => [name, values[index] as string]));
}

/** A seeded generator, so the random values are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [...'\'"`#$\\= \t\nabcXYZ09-_/{}()!;&|*?~^%@:.,+<>[]é🔑\u00a0\u2028'];

function randomValues(count: number): NamedValue[] {
  const random = seeded(12);
  return Array.from({ length: count }, (_, index) => {
    const length = Math.floor(random() * 12);
    let value = '';
    for (let i = 0; i < length; i += 1) value += ALPHABET[Math.floor(random() * ALPHABET.length)];
    return { name: `RANDOM_${index}`, value };
  });
}

describe('the dotenv format', () => {
  it('is read back exactly by the dotenv package, node --env-file and bash', async () => {
    const text = formatDotenv(CARRIED);
    const names = CARRIED.map(({ name }) => name);
    const expected = asObject(CARRIED);
    // Exactly these keys: no line of a multi-line value is read as an entry of its own.
    expect(dotenv.parse(text)).toEqual(expected);
    const file = await tempFile(text);
    expect(await nodeEnvFile(file, [...names, 'NEXT', 'B', 'C'])).toEqual({
      ...expected,
      NEXT: null,
      B: null,
      C: null,
    });
    expect(await bashSource(file, names)).toEqual(expected);
  });

  it('writes a line a dotenv reader reads as text, never the shell syntax it used to write', () => {
    expect(formatDotenv([{ name: 'A', value: "it's" }])).toBe(`A="it's"\n`);
    expect(dotenv.parse(formatDotenv([{ name: 'A', value: "it's" }]))).toEqual({ A: "it's" });
  });

  it('refuses a value no reader would read back, naming the secret and never the value', () => {
    for (const [item, reason] of REFUSED) {
      let caught: unknown;
      try {
        formatDotenv([{ name: 'FIRST', value: 'fine' }, item]);
      } catch (error) {
        caught = error;
      }
      expect(caught, item.name).toBeInstanceOf(FormatError);
      const message = (caught as Error).message;
      expect(message).toContain(`secret "${item.secretName}" (${item.name})`);
      expect(message).toContain(reason);
      expect(message).not.toContain(item.value);
    }
  });

  it('carries or refuses each of 300 random values of quotes, #, $, backslashes, spaces and line breaks', async () => {
    const carried: NamedValue[] = [];
    let refused = 0;
    for (const item of randomValues(300)) {
      try {
        formatDotenv([item]);
        carried.push(item);
      } catch (error) {
        if (!(error instanceof FormatError)) throw error;
        refused += 1;
      }
    }
    // Both outcomes are exercised by the fixed seed.
    expect(carried.length).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(10);
    const text = formatDotenv(carried);
    const expected = asObject(carried);
    expect(dotenv.parse(text)).toEqual(expected);
    const file = await tempFile(text);
    const names = carried.map(({ name }) => name);
    expect(await nodeEnvFile(file, names)).toEqual(expected);
    expect(await bashSource(file, names)).toEqual(expected);
  });
});

describe('the shell format', () => {
  it('is read back exactly by bash for every value but NUL, the dotenv refusals included', async () => {
    const values = [
      ...CARRIED,
      ...REFUSED.map(([item]) => item).filter(({ value }) => !value.includes('\0')),
    ];
    const file = await tempFile(formatShell(values));
    expect(
      await bashSource(
        file,
        values.map(({ name }) => name),
      ),
    ).toEqual(asObject(values));
  });

  it('refuses a NUL character, which no shell variable holds', () => {
    expect(() => formatShell([{ name: 'N', value: 'a\0b', secretName: 'prod/x/N' }])).toThrow(
      'the shell format cannot carry the value of secret "prod/x/N" (N): it holds a NUL character',
    );
  });
});

describe('a lone UTF-16 surrogate', () => {
  // Written to a UTF-8 file it becomes U+FFFD: every format but json, which escapes it as \ud800, refuses it.
  const values = ['\ud800', 'x\udc00y', 'end\udbff', '\udfffstart'];

  it('is refused by the dotenv, shell and github-env formats, naming the secret and never the value', () => {
    const formats: [string, (items: NamedValue[]) => string][] = [
      ['dotenv', formatDotenv],
      ['shell', formatShell],
      ['github-env', (items) => formatGithubEnv(items, () => 'EOF_DELIMITER')],
    ];
    for (const [format, write] of formats)
      for (const value of values) {
        const item = { name: 'S', value, secretName: 'prod/x/S' };
        let caught: unknown;
        try {
          write([{ name: 'FIRST', value: 'fine' }, item]);
        } catch (error) {
          caught = error;
        }
        expect(caught, `${format} ${JSON.stringify(value)}`).toBeInstanceOf(FormatError);
        const message = (caught as Error).message;
        expect(message).toBe(
          `the ${format} format cannot carry the value of secret "prod/x/S" (S): it holds a lone UTF-16 surrogate, which a UTF-8 file writes as another character; the json format carries any value`,
        );
        expect(message).not.toContain(value);
      }
  });

  it('is carried by json, and a surrogate pair by every format', () => {
    for (const value of values) expect(JSON.parse(formatJson([{ name: 'S', value }]))).toEqual({ S: value });
    const pair = [{ name: 'E', value: 'emoji \u{1f600}' }];
    expect(dotenv.parse(formatDotenv(pair))).toEqual({ E: 'emoji \u{1f600}' });
    expect(formatShell(pair)).toBe("export E='emoji \u{1f600}'\n");
    expect(formatGithubEnv(pair, () => 'D')).toBe('E<<D\nemoji \u{1f600}\nD\n');
  });
});
