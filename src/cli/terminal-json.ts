import { hasUnprintable } from '../protocol/printable.js';

/**
 * JSON for a terminal or a pipe: still valid JSON that parses to the same value, but every character
 * `printable` would escape is written as a \uXXXX escape. JSON.stringify escapes C0 controls only; DEL, C1
 * controls, bidi overrides and invisible characters would otherwise reach the terminal as they are.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\uffff]/g, (character) =>
    hasUnprintable(character) ? `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}` : character,
  );
}
