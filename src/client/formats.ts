/** Writes name/value pairs in the file formats clients offer. Every format round-trips any value exactly. */
export interface NamedValue {
  readonly name: string;
  readonly value: string;
}

/** Single-quoted for POSIX shells: nothing inside is expanded; a quote is written as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** NAME='value' lines: `source`-able by bash and sh, multi-line values included. */
export function formatDotenv(values: readonly NamedValue[]): string {
  return values.map(({ name, value }) => `${name}=${shellQuote(value)}\n`).join('');
}

export function formatJson(values: readonly NamedValue[]): string {
  return `${JSON.stringify(Object.fromEntries(values.map(({ name, value }) => [name, value])), null, 2)}\n`;
}
