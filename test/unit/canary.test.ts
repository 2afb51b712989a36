import { describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';

describe('canary scanner', () => {
  it('finds a value in plain text, hex, base64 and base64url at any alignment, and in binary files', () => {
    const value = canary('scan');
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const blob = Buffer.from(`${prefix}${value}tail`);
      expect(findLeaks([value], { b64: blob.toString('base64') })).not.toEqual([]);
      expect(findLeaks([value], { b64url: blob.toString('base64url') })).not.toEqual([]);
      expect(findLeaks([value], { hex: blob.toString('hex') })).not.toEqual([]);
    }
    expect(findLeaks([value], { plain: `x${value}y` })).toHaveLength(1);
    expect(
      findLeaks([value], { file: Buffer.concat([Buffer.from([0, 1]), Buffer.from(value)]) }),
    ).not.toEqual([]);
    expect(findLeaks(['line-one-abcdef\nline-two-abcdef'], { log: 'only line-two-abcdef here' })).not.toEqual(
      [],
    );
    expect(findLeaks([value], { clean: 'nothing here', other: canary('scan') })).toEqual([]);
  });
});
