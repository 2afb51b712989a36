import type { TokenUse } from '../store/interfaces.js';
import { select, sql, valueRows, type Work } from './statement.js';

/** One token's key among recorded uses. */
export const tokenUseKey = (use: Pick<TokenUse, 'issuer' | 'jtiHash'>): string =>
  `${use.issuer}\n${use.jtiHash}`;

/**
 * Records token uses: one unique insert is the whole single-use check, so of two redemptions of one token (in
 * one statement, or from two replicas) one records it. Returns the keys (tokenUseKey) of the uses this insert
 * recorded; a use recorded before is not among them.
 */
export function* insertTokenUses(uses: readonly TokenUse[]): Work<Set<string>> {
  if (uses.length === 0) return new Set();
  const rows = yield* select<{ issuer: string; jti_sha256: string }>(
    sql`INSERT INTO used_tokens (issuer, jti_sha256, expires_at)
        VALUES ${valueRows(uses.map((use) => [use.issuer, use.jtiHash, use.expiresAtSeconds]))}
        ON CONFLICT DO NOTHING RETURNING issuer, jti_sha256`,
  );
  return new Set(rows.map((row) => tokenUseKey({ issuer: row.issuer, jtiHash: row.jti_sha256 })));
}
