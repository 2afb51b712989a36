import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { printable, printableLines } from '../../../protocol/printable.js';

/** A fragment of HTML whose every interpolated value was escaped. */
export type Html = HtmlEscapedString;

/** Strings anywhere in a value (arrays of them included) made printable: control, bidi and invisible characters escaped. */
function printableValue(value: unknown): unknown {
  if (typeof value === 'string') return printable(value);
  if (Array.isArray(value)) return value.map(printableValue);
  return value;
}

/**
 * The one way the dashboard writes HTML: Hono's `html` template, which HTML-escapes every interpolated string,
 * after every string was made printable (so no value can reorder or hide text either). Fragments made with `h`
 * nest as they are. Synchronous only: a view never awaits while rendering.
 */
export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const rendered = html(strings, ...values.map(printableValue));
  if (rendered instanceof Promise) throw new TypeError('dashboard fragments are synchronous');
  return rendered;
}

/** Text that may span lines (a textarea's content, pretty JSON): lines kept, everything else as `h` escapes it. */
export function lines(text: string): Html {
  const rendered = html`${printableLines(text)}`;
  if (rendered instanceof Promise) throw new TypeError('dashboard fragments are synchronous');
  return rendered;
}

/** A time as the dashboard shows it: ISO 8601 in UTC to the second, or a dash. */
export function time(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '–';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : `${date.toISOString().slice(0, 19)}Z`;
}

/** A query string from the non-empty parameters, for links that keep the filters. */
export function query(parameters: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
