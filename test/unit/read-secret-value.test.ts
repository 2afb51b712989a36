import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readSecretValue } from '../../src/cli/read-secret-value.js';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

const io = (stdin: NodeJS.ReadableStream & { isTTY?: boolean } = Readable.from([]), environment = {}) => {
  const stderr = capture();
  return { io: { stdin, stderr: stderr.stream, environment }, stderr };
};

describe('reading a secret value', () => {
  it('needs exactly one source', async () => {
    await expect(readSecretValue({}, io().io)).rejects.toThrow(/say where the value comes from/);
    await expect(readSecretValue({ value: 'a', fromEnv: 'B' }, io().io)).rejects.toThrow(/use only one of/);
  });

  it('--value works and warns about shell history', async () => {
    const { io: streams, stderr } = io();
    expect(await readSecretValue({ value: 'inline-secret' }, streams)).toBe('inline-secret');
    expect(stderr.text()).toContain('shell history');
    expect(stderr.text()).not.toContain('inline-secret');
  });

  it('--from-env reads a variable and refuses an unset one', async () => {
    expect(await readSecretValue({ fromEnv: 'TOKEN' }, io(undefined, { TOKEN: 'from-env' }).io)).toBe(
      'from-env',
    );
    await expect(readSecretValue({ fromEnv: 'MISSING' }, io().io)).rejects.toThrow(
      'MISSING is not set or empty',
    );
  });

  it('--from-file keeps bytes exactly and refuses non-UTF-8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'val-'));
    await writeFile(join(dir, 'pem'), '-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    expect(await readSecretValue({ fromFile: join(dir, 'pem') }, io().io)).toBe(
      '-----BEGIN KEY-----\nabc\n-----END KEY-----\n',
    );
    await writeFile(join(dir, 'bin'), Buffer.from([0xff, 0xfe, 0x00]));
    await expect(readSecretValue({ fromFile: join(dir, 'bin') }, io().io)).rejects.toThrow(/not valid UTF-8/);
    await expect(readSecretValue({ fromFile: join(dir, 'none') }, io().io)).rejects.toThrow(/ENOENT/);
  });

  it('--from-stdin drops the final newline of a single line only', async () => {
    expect(await readSecretValue({ fromStdin: true }, io(Readable.from([Buffer.from('piped\n')])).io)).toBe(
      'piped',
    );
    expect(await readSecretValue({ fromStdin: true }, io(Readable.from([Buffer.from('a\nb\n')])).io)).toBe(
      'a\nb\n',
    );
  });

  it('--prompt asks twice on a terminal without echoing, and refuses without one', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const { io: streams, stderr } = io(stdin);
    const result = readSecretValue({ prompt: true }, streams);
    stdin.write('typed-secret\n');
    await new Promise((resolve) => setImmediate(resolve));
    stdin.write('typed-secret\n');
    expect(await result).toBe('typed-secret');
    expect(stderr.text()).toContain('Value (not shown): ');
    expect(stderr.text()).not.toContain('typed-secret');
    await expect(readSecretValue({ prompt: true }, io(Readable.from([])).io)).rejects.toThrow(
      /needs a terminal/,
    );
  });

  it('--prompt refuses two different answers', async () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const result = readSecretValue({ prompt: true }, io(stdin).io);
    stdin.write('one\n');
    await new Promise((resolve) => setImmediate(resolve));
    stdin.write('two\n');
    await expect(result).rejects.toThrow('the two values differ');
  });
});
