import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasUnprintable, printable, printableJson, printableLines } from '../../src/protocol/printable.js';

/** Every code point from `first` to `last`, each as a string. */
function range(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, index) => String.fromCodePoint(first + index));
}

const hex = (character: string): string => (character.codePointAt(0) as number).toString(16);

/** Characters a terminal or log viewer shows as nothing, or that move, rewrite or reorder what is shown. */
const UNPRINTABLE = [
  ...range(0x00, 0x1f),
  ...range(0x7f, 0x9f),
  '\u00ad', // soft hyphen
  '\u034f', // combining grapheme joiner
  '\u061c', // Arabic letter mark
  '\u115f', // Hangul choseong filler
  '\u1160', // Hangul jungseong filler
  ...range(0x17b4, 0x17b5), // Khmer inherent vowels
  ...range(0x180b, 0x180f), // Mongolian variation selectors and vowel separator
  ...range(0x200b, 0x200f), // zero-width space, joiners, direction marks
  ...range(0x2028, 0x202e), // line and paragraph separators, embeddings and overrides
  ...range(0x2060, 0x206f), // word joiner, invisible operators, isolates, deprecated format characters
  '\u3164', // Hangul filler
  ...range(0xfe00, 0xfe0f), // variation selectors
  '\ufeff', // byte order mark
  '\uffa0', // halfwidth Hangul filler
  ...range(0xfff9, 0xfffb), // interlinear annotations
  ...range(0x1d173, 0x1d17a), // musical formatting
  ...range(0xe0000, 0xe007f), // tags (invisible ASCII)
  ...range(0xe0100, 0xe01ef), // variation selectors supplement
  '\ud800', // a lone surrogate
  '\udfff',
];

const PRINTABLE = ['a', 'Z', '0', ' ', '~', 'é', 'ß', '€', 'Ж', '中', 'ا', '\u00a0', '😀', '𝔘', '\u3000'];

describe('printable', () => {
  it('escapes every invisible, control, bidi and format character, and hasUnprintable agrees', () => {
    const missed = UNPRINTABLE.filter((character) => printable(`a${character}b`) === `a${character}b`);
    expect(missed.map(hex)).toEqual([]);
    expect(UNPRINTABLE.filter((character) => !hasUnprintable(character)).map(hex)).toEqual([]);
    for (const character of UNPRINTABLE) {
      const escaped = printable(character);
      expect(escaped, hex(character)).toMatch(/^\\(x[0-9a-f]{2}|u[0-9a-f]{4}|u\{[0-9a-f]{5,6}\}|[nrt])$/);
      expect(hasUnprintable(escaped)).toBe(false);
    }
  });

  it('leaves printable text of every script as it is', () => {
    for (const character of PRINTABLE) {
      expect(printable(character)).toBe(character);
      expect(hasUnprintable(character)).toBe(false);
    }
  });

  it('writes each escape as it is read: \\n, \\x1b, \\xad, \\u202e, \\u{e0041}', () => {
    expect(printable('a\nb\r\tc\u001b[2J\u202eZ\u{e0041}\u{e0042}')).toBe(
      'a\\nb\\r\\tc\\x1b[2J\\u202eZ\\u{e0041}\\u{e0042}',
    );
    expect(printable('soft\u00adhyphen\ufe0f')).toBe('soft\\xadhyphen\\ufe0f');
  });

  it('hides no text in tag characters: "secret" spelled in tags shows as escapes', () => {
    const hidden = [...'secret'].map((character) => String.fromCodePoint(0xe0000 + character.charCodeAt(0)));
    expect(printable(`ok${hidden.join('')}`)).toBe(
      'ok\\u{e0073}\\u{e0065}\\u{e0063}\\u{e0072}\\u{e0065}\\u{e0074}',
    );
  });

  it('printableLines keeps line breaks and escapes the rest the same way', () => {
    expect(printableLines('a\nb\u{e0041}\r\n\u3164')).toBe('a\nb\\u{e0041}\\r\n\\u3164');
    for (const character of UNPRINTABLE.filter((character) => character !== '\n'))
      expect(printableLines(character)).toBe(printable(character));
  });

  it('hasUnprintable is true exactly when printable changes the text, call after call', () => {
    for (const text of ['plain', 'a\u00adb', 'x\u{e0001}', '\u2066', 'é😀', '', '\n']) {
      const expected = printable(text) !== text;
      expect(hasUnprintable(text), JSON.stringify(text)).toBe(expected);
      expect(hasUnprintable(text), JSON.stringify(text)).toBe(expected);
    }
  });
});

describe('printableJson', () => {
  it('escapes what printable escapes as \\u escapes, keeps the rest, and stays the same JSON', () => {
    const value = {
      ref: 'refs/heads/\u202egnp.exe\u009b\u2028',
      emoji: 'deploy 🚀 ✓',
      tag: 'a\u{e0041}b',
      lines: 'a\nb',
    };
    for (const indent of [undefined, 2]) {
      const text = printableJson(JSON.stringify(value, null, indent));
      expect(JSON.parse(text)).toEqual(value);
      expect(hasUnprintable(text.replaceAll('\n', ''))).toBe(false);
      expect(text).toContain('🚀');
      expect(text).toContain('\\u202e');
    }
  });
});

describe('the plain-ASCII fast path', () => {
  // The classes printable escapes, as the module writes them: printable ASCII must hold none of them for the
  // fast path (text returned untouched) to be the same function.
  const ESCAPED_CLASSES = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Cs}]/u;

  it('skips only characters that no escaped class holds', () => {
    for (let code = 0x20; code <= 0x7e; code += 1)
      expect(ESCAPED_CLASSES.test(String.fromCharCode(code))).toBe(false);
  });

  it('still escapes every ASCII control, in one field and across lines', () => {
    for (let code = 0; code < 0x80; code += 1) {
      const character = String.fromCharCode(code);
      const expected = ESCAPED_CLASSES.test(character);
      expect(printable(`a${character}b`) !== `a${character}b`).toBe(expected);
      expect(hasUnprintable(`a${character}b`)).toBe(expected);
      if (character !== '\n') expect(printableLines(`a${character}b`) !== `a${character}b`).toBe(expected);
    }
  });

  it('changes text exactly when it holds a character of an escaped class', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(printable(text) !== text).toBe(ESCAPED_CLASSES.test(text));
        expect(hasUnprintable(text)).toBe(ESCAPED_CLASSES.test(text));
      }),
      { numRuns: 2000 },
    );
  });
});
