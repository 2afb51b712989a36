/** Canary values and the encodings a leak could take, for scanning every output of a test. */
import { randomBytes } from 'node:crypto';

export function canary(label: string): string {
  return `canary-${label}-${randomBytes(8).toString('hex')}`;
}

/**
 * The forms in which `value` could appear: plain, hex, and base64/base64url at each of the three byte
 * alignments it could have inside a longer encoded blob (the stable middle part of each).
 */
export function leakForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Set<string>([value, bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let offset = 0; offset < 3; offset += 1) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes])
      .toString('base64')
      .replace(/=+$/, '');
    // Skip characters that mix in the prefix bytes and the last (possibly partial) group.
    const start = Math.ceil((offset * 4) / 3) + 1;
    const stable = encoded.slice(start, encoded.length - 4);
    if (stable.length >= 12) {
      forms.add(stable);
      forms.add(stable.replaceAll('+', '-').replaceAll('/', '_'));
    }
  }
  for (const line of value.split('\n')) if (line.length >= 8) forms.add(line);
  return [...forms];
}

/** Every (canary, form, place) hit across the named outputs. */
export function findLeaks(
  values: readonly string[],
  outputs: Readonly<Record<string, string | Buffer>>,
): string[] {
  const hits: string[] = [];
  for (const value of values) {
    for (const form of leakForms(value)) {
      for (const [place, output] of Object.entries(outputs)) {
        const found =
          typeof output === 'string' ? output.includes(form) : output.includes(Buffer.from(form, 'utf8'));
        if (found) hits.push(`${JSON.stringify(form)} (from ${JSON.stringify(value)}) in ${place}`);
      }
    }
  }
  return hits;
}
