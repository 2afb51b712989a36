import { Transform, type TransformCallback } from 'node:stream';
import { derivedForms, logLines } from './derived-forms.js';

export const REDACTED = '***';
/** Lines of a multi-line value shorter than this are not redacted on their own (they would blank out "{" or "-"). */
export const MIN_LINE_LENGTH = 3;

/**
 * The strings to redact for these values: each value, and each line of a multi-line value; with `derived`, also
 * the encodings of each of these that tools print (`derivedForms`: hex, base64, base64url, URL-encoding).
 */
export function redactionPatterns(values: readonly string[], derived = false): string[] {
  const patterns = new Set<string>();
  for (const value of values) {
    const forms = new Set<string>();
    if (value !== '') forms.add(value);
    for (const line of logLines(value)) if (line.trim().length >= MIN_LINE_LENGTH) forms.add(line);
    for (const form of forms) {
      patterns.add(form);
      if (derived) for (const encoded of derivedForms(form)) patterns.add(encoded);
    }
  }
  return [...patterns];
}

/**
 * Replaces every occurrence of the patterns in a byte stream, longest first, also when a pattern is split
 * across chunks. At most the longest pattern's length minus one byte is held back, never the whole output.
 */
export class Redactor {
  private readonly patterns: readonly Buffer[];
  private readonly firstBytes: ReadonlySet<number>;
  private readonly replacement: Buffer;

  constructor(patterns: readonly string[], replacement = REDACTED) {
    this.patterns = [...new Set(patterns)]
      .filter((pattern) => pattern !== '')
      .map((pattern) => Buffer.from(pattern, 'utf8'))
      .sort((a, b) => b.length - a.length);
    this.firstBytes = new Set(this.patterns.map((pattern) => pattern[0] as number));
    this.replacement = Buffer.from(replacement, 'utf8');
  }

  /** A fresh streaming transform (one per output stream: each keeps its own held-back bytes). */
  stream(): Transform {
    let pending: Buffer = Buffer.alloc(0);
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        const { output, rest } = this.scan(Buffer.concat([pending, chunk]), false);
        pending = rest;
        callback(null, output);
      },
      flush: (callback: TransformCallback) => {
        callback(null, this.scan(pending, true).output);
      },
    });
  }

  /** Redacts a whole text at once (the same decisions the stream makes). */
  redact(text: string): string {
    return this.scan(Buffer.from(text, 'utf8'), true).output.toString('utf8');
  }

  /**
   * Scans `data`. Without `final`, stops at the first position where a pattern could still start but needs
   * bytes that have not arrived, and returns the rest to be scanned again with the next chunk.
   */
  private scan(data: Buffer, final: boolean): { output: Buffer; rest: Buffer } {
    const parts: Buffer[] = [];
    let copiedUpTo = 0;
    let index = 0;
    while (index < data.length) {
      if (!this.firstBytes.has(data[index] as number)) {
        index += 1;
        continue;
      }
      const available = data.length - index;
      // A longer pattern that may still complete wins over a shorter one that matches now: wait for it.
      if (
        !final &&
        this.patterns.some(
          (pattern) => pattern.length > available && data.compare(pattern, 0, available, index) === 0,
        )
      ) {
        break;
      }
      const match = this.patterns.find(
        (pattern) =>
          pattern.length <= available &&
          data.compare(pattern, 0, pattern.length, index, index + pattern.length) === 0,
      );
      if (match === undefined) {
        index += 1;
        continue;
      }
      parts.push(data.subarray(copiedUpTo, index), this.replacement);
      index += match.length;
      copiedUpTo = index;
    }
    parts.push(data.subarray(copiedUpTo, index));
    return { output: Buffer.concat(parts), rest: Buffer.from(data.subarray(index)) };
  }
}
