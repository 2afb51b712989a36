/**
 * Text for a human's terminal or a CI log: characters that could move the cursor, rewrite the screen, start a
 * terminal or workflow command, or reorder what is shown become visible escapes (`\x1b`, `\u202e`).
 *
 * Escaped: C0 controls (U+0000-U+001F), DEL, C1 controls (U+0080-U+009F), the line and paragraph separators,
 * bidirectional marks, embeddings, overrides and isolates, and invisible format characters (zero-width
 * space/joiners, word joiner, byte order mark, interlinear annotations).
 */
/* eslint-disable no-control-regex -- matching control characters is this module's job */
const UNPRINTABLE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const UNPRINTABLE_BUT_NEWLINE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
/* eslint-enable no-control-regex */

function escapeCharacter(character: string): string {
  const code = character.charCodeAt(0);
  switch (character) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return code < 0x100
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : `\\u${code.toString(16).padStart(4, '0')}`;
  }
}

/** One field of untrusted text (a claim, a name, a server's message) on one line: newlines escaped too. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeCharacter);
}

/** Text that may span lines on purpose: every line kept, everything else `printable` escapes escaped. */
export function printableLines(text: string): string {
  return text.replace(UNPRINTABLE_BUT_NEWLINE, escapeCharacter);
}

/** True when `printable(text)` would change it. */
export function hasUnprintable(text: string): boolean {
  UNPRINTABLE.lastIndex = 0;
  const found = UNPRINTABLE.test(text);
  UNPRINTABLE.lastIndex = 0;
  return found;
}
