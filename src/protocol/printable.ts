/**
 * Text for a human's terminal or a CI log: characters that could move the cursor, rewrite the screen, start a
 * terminal or workflow command, reorder what is shown, or hide text become visible escapes (`\x1b`, `\u202e`,
 * `\u{e0041}`).
 *
 * Escaped, by Unicode property so that the whole class is covered: control characters (C0, DEL, C1: `Cc`), format
 * characters (`Cf`: bidirectional marks, embeddings, overrides and isolates, zero-width characters, soft hyphen,
 * interlinear annotations, tags), the line and paragraph separators (`Zl`, `Zp`), every default-ignorable code
 * point (shown as nothing: variation selectors, the combining grapheme joiner, Hangul fillers, deprecated format
 * characters) and lone surrogates (`Cs`: not text at all).
 */
const ESCAPED_CLASSES = String.raw`[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Cs}]`;

/**
 * The expressions are built on first use, from text: a property class costs V8 its Unicode tables when the
 * expression is created (a literal: when the module is compiled), about 3% of a short-lived client's CPU, and
 * most text (names, messages) is printable ASCII, which none of the classes holds and which is returned as is.
 */
let unprintable: { readonly oneLine: RegExp; readonly keepingLines: RegExp } | undefined;

function unprintableExpressions(): { readonly oneLine: RegExp; readonly keepingLines: RegExp } {
  unprintable ??= {
    oneLine: new RegExp(ESCAPED_CLASSES, 'gu'),
    keepingLines: new RegExp(String.raw`(?!\n)${ESCAPED_CLASSES}`, 'gu'),
  };
  return unprintable;
}

const PLAIN_ASCII = /^[\x20-\x7e]*$/;
const PLAIN_ASCII_LINES = /^[\x20-\x7e\n]*$/;

function escapeCharacter(character: string): string {
  const code = character.codePointAt(0) as number;
  switch (character) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
      if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
      return `\\u{${code.toString(16)}}`;
  }
}

/** One field of untrusted text (a claim, a name, a server's message) on one line: newlines escaped too. */
export function printable(text: string): string {
  if (PLAIN_ASCII.test(text)) return text;
  return text.replace(unprintableExpressions().oneLine, escapeCharacter);
}

/** Text that may span lines on purpose: every line kept, everything else `printable` escapes escaped. */
export function printableLines(text: string): string {
  if (PLAIN_ASCII_LINES.test(text)) return text;
  return text.replace(unprintableExpressions().keepingLines, escapeCharacter);
}

/** True when `printable(text)` would change it. */
export function hasUnprintable(text: string): boolean {
  if (PLAIN_ASCII.test(text)) return false;
  const { oneLine } = unprintableExpressions();
  oneLine.lastIndex = 0;
  const found = oneLine.test(text);
  oneLine.lastIndex = 0;
  return found;
}

/**
 * JSON text for a terminal, a log line or a client that prints what it gets: still valid JSON that parses to the
 * same value, with every character `printable` would escape written as `\uXXXX` (JSON.stringify escapes only C0
 * controls, which never appear raw in its output; indentation's line breaks are left alone).
 */
export function printableJson(json: string): string {
  if (PLAIN_ASCII_LINES.test(json)) return json;
  return json.replace(unprintableExpressions().keepingLines, jsonEscape);
}

/** Each UTF-16 unit of `character` as a JSON \u escape (a character above U+FFFF is a surrogate pair). */
function jsonEscape(character: string): string {
  let escaped = '';
  for (let index = 0; index < character.length; index += 1)
    escaped += `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`;
  return escaped;
}
