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

/** `export NAME='value'` lines for `eval` in sh, bash or zsh. */
export function formatShell(values: readonly NamedValue[]): string {
  return values.map(({ name, value }) => `export ${name}=${shellQuote(value)}\n`).join('');
}

/** GitHub's GITHUB_ENV format: NAME<<DELIMITER blocks with a random delimiter that is not in the value. */
export function formatGithubEnv(values: readonly NamedValue[], randomDelimiter: () => string): string {
  return values
    .map(({ name, value }) => {
      let delimiter = randomDelimiter();
      while (value.includes(delimiter)) delimiter = randomDelimiter();
      return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
    })
    .join('');
}

export const OUTPUT_FORMATS = ['dotenv', 'json', 'shell', 'github-env'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
