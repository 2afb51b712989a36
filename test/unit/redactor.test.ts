import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Redactor, redactionPatterns } from '../../src/client/redactor.js';

/** The reference: one left-to-right pass over the whole text, longest pattern first at each position. */
function reference(text: string, patterns: readonly string[], marker: string): string {
  const sorted = [...new Set(patterns)]
    .filter((p) => p !== '')
    .sort((a, b) => Buffer.byteLength(b) - Buffer.byteLength(a));
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let index = 0;
  while (index < bytes.length) {
    const match = sorted.find((p) =>
      bytes.subarray(index, index + Buffer.byteLength(p)).equals(Buffer.from(p)),
    );
    if (match !== undefined) {
      out.push(Buffer.from(marker));
      index += Buffer.byteLength(match);
    } else {
      out.push(bytes.subarray(index, index + 1));
      index += 1;
    }
  }
  return Buffer.concat(out).toString();
}

async function streamThrough(redactor: Redactor, chunks: readonly Buffer[]): Promise<string> {
  const input = new PassThrough();
  const output: Buffer[] = [];
  const stream = input.pipe(redactor.stream());
  stream.on('data', (chunk: Buffer) => output.push(chunk));
  const done = new Promise((resolve) => stream.on('end', resolve));
  for (const chunk of chunks) input.write(chunk);
  input.end();
  await done;
  return Buffer.concat(output).toString();
}

/** Splits bytes at the given cut points (anywhere, including inside a UTF-8 character). */
function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

const alphabet = fc.constantFrom(
  'a',
  'b',
  'ab',
  '.',
  '*',
  '+',
  '?',
  '(',
  '[',
  '\\',
  '$',
  '^',
  '|',
  '\n',
  '\r\n',
  'é',
  '🔑',
  '日',
  ' ',
);
const secretValue = fc.array(alphabet, { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));

describe('streaming redaction', () => {
  it('property: no secret survives any chunking, and every other byte passes through unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(secretValue, { minLength: 1, maxLength: 4 }),
        fc.array(fc.oneof(alphabet, fc.string({ maxLength: 3 })), { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        async (values, filler, cuts, prefixCase) => {
          // Always include a pair where one secret is a prefix of another.
          const secrets = prefixCase ? [...values, `${values[0]}${values[0]}x`] : values;
          const patterns = redactionPatterns(secrets);
          // Plant the secrets among the filler so they do occur.
          const text = filler
            .map((piece, index) => (index % 3 === 0 ? `${piece}${secrets[index % secrets.length]}` : piece))
            .join('');
          const marker = '\u0000';
          const streamed = await streamThrough(
            new Redactor(patterns, marker),
            chunk(Buffer.from(text), cuts),
          );
          expect(streamed).toBe(reference(text, patterns, marker));
          for (const secret of secrets) expect(streamed.includes(secret)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('passes text with no secret through byte for byte, however it is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (text, cuts) => {
          const streamed = await streamThrough(
            new Redactor(['\u{10FFFF}never-in-input']),
            chunk(Buffer.from(text), cuts),
          );
          expect(streamed).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('replaces the longest match first, across chunks, and each line of a multi-line value', async () => {
    const redactor = new Redactor(redactionPatterns(['abc', 'abcdef', 'line-one\nline-two']));
    expect(
      await streamThrough(redactor, [Buffer.from('x ab'), Buffer.from('cd'), Buffer.from('ef y abc')]),
    ).toBe('x *** y ***');
    expect(redactor.redact('printed: line-two\r\nand line-one')).toBe('printed: ***\r\nand ***');
    expect(redactionPatterns(['{\n  "k": "secret-v"\n}'])).toEqual([
      '{\n  "k": "secret-v"\n}',
      '  "k": "secret-v"',
    ]);
  });

  it('holds back at most the longest pattern minus one byte', async () => {
    const redactor = new Redactor(['0123456789']);
    const input = new PassThrough();
    const seen: string[] = [];
    const stream = input.pipe(redactor.stream());
    stream.on('data', (chunk: Buffer) => seen.push(chunk.toString()));
    input.write('x'.repeat(1000) + '012345678');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.join('')).toBe('x'.repeat(1000));
    input.end('9!');
    await new Promise((resolve) => stream.on('end', resolve));
    expect(seen.join('')).toBe(`${'x'.repeat(1000)}***!`);
  });
});
