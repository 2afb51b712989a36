/** Fills a broker database's replay cache (used_tokens) fast, for the purge test and bench. */
import Database from 'better-sqlite3';
import pg from 'pg';

export type UsedTokensDatabase = { readonly sqliteFile: string } | { readonly postgresUrl: string };

export const FILL_ISSUER = 'https://token.actions.githubusercontent.com';

/**
 * Inserts `count` used tokens of FILL_ISSUER in one statement, with random-looking jti hashes (as real ones
 * are, so the primary key's pages are touched in no particular order) expiring at `expiresAt` plus 0 to 3599 s.
 */
export async function fillUsedTokens(
  database: UsedTokensDatabase,
  count: number,
  expiresAt: number,
): Promise<void> {
  if ('sqliteFile' in database) {
    const sqlite = new Database(database.sqliteFile);
    try {
      sqlite
        .prepare(
          `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
           INSERT INTO used_tokens (issuer, jti_sha256, expires_at)
           SELECT ?, lower(hex(randomblob(32))), ? + i % 3600 FROM n`,
        )
        .run(count, FILL_ISSUER, expiresAt);
    } finally {
      sqlite.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: database.postgresUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO used_tokens (issuer, jti_sha256, expires_at)
       SELECT $1, encode(sha256(convert_to(random()::text || i, 'UTF8')), 'hex'), $2 + i % 3600
       FROM generate_series(0, $3 - 1) AS i`,
      [FILL_ISSUER, expiresAt, count],
    );
  } finally {
    await client.end();
  }
}

/** How many used tokens the database holds: all, and those expiring at or after `fromSeconds`. */
export async function countUsedTokens(
  database: UsedTokensDatabase,
  fromSeconds: number,
): Promise<{ all: number; unexpired: number }> {
  const text =
    'SELECT count(*) AS "all", count(*) FILTER (WHERE expires_at >= $1) AS unexpired FROM used_tokens';
  if ('sqliteFile' in database) {
    const sqlite = new Database(database.sqliteFile, { readonly: true });
    try {
      const row = sqlite.prepare(text.replace('$1', '?')).get(fromSeconds) as {
        all: number;
        unexpired: number;
      };
      return { all: row.all, unexpired: row.unexpired };
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client({ connectionString: database.postgresUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ all: string; unexpired: string }>(text, [fromSeconds]);
    return { all: Number(rows[0]?.all), unexpired: Number(rows[0]?.unexpired) };
  } finally {
    await client.end();
  }
}
