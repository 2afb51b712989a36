import { printable } from './printable.js';

const MAX_QUOTED_CHARS = 100;

/**
 * Someone else's value (a claim, a header, a field of a document) for a message: as JSON, cut short, and
 * escaped, so it stays on one line and shows what it is without acting on a terminal or a log.
 */
export function quoted(value: unknown, maxChars = MAX_QUOTED_CHARS): string {
  if (value === undefined) return 'none';
  if (typeof value !== 'string') {
    if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
    return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
  }
  const shown = value.length > maxChars ? `${value.slice(0, maxChars)}…` : value;
  return printable(JSON.stringify(shown));
}
