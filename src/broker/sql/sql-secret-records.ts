import { CodedError } from '../../protocol/coded-error.js';
import type { EncryptedValue } from '../store/envelope.js';
import type { SecretReference } from '../../protocol/secret-names.js';
import {
  MAX_HISTORY_VERSIONS,
  type ConditionChanges,
  type CountedReleases,
  type EncryptedSecretRecord,
  type FoundRecord,
  type ReleaseOutcome,
  type SecretHistory,
  type SecretRecords,
  type SecretSummary,
  type TokenUse,
  type VersionDetails,
} from '../store/interfaces.js';
import {
  CONDITION_COLUMNS,
  currentInOrder,
  toConditions,
  toSecretRecord,
  type ConditionRow,
  type VersionRow,
} from './rows.js';
import { nameRanges, type NameRange } from './name-ranges.js';
import { insertTokenUses } from './token-uses.js';
import { execute, join, raw, select, sql, type SqlDatabase, type Statement, type Work } from './statement.js';

const VERSION_COLUMNS = sql`name, version, key_id, wrapped_key, nonce, ciphertext`;

const inRange = ({ from, to }: NameRange) =>
  to === undefined ? sql`name >= ${from}` : sql`(name >= ${from} AND name < ${to})`;

/** `column = value` for each condition `changes` sets or clears (null). */
function conditionAssignments(changes: ConditionChanges): Statement[] {
  const assign = (column: string, value: unknown) => sql`${raw(column)} = ${value}`;
  const assignments: Statement[] = [];
  if (changes.expiresAt !== undefined) assignments.push(assign('expires_at', changes.expiresAt));
  if (changes.maxReads !== undefined) {
    assignments.push(assign('max_reads', changes.maxReads?.count ?? null));
    assignments.push(assign('max_reads_period', changes.maxReads?.periodSeconds ?? null));
  }
  if (changes.rotateAfterReads !== undefined)
    assignments.push(assign('rotate_after_reads', changes.rotateAfterReads));
  if (changes.description !== undefined) assignments.push(assign('description', changes.description));
  if (changes.owner !== undefined) assignments.push(assign('owner', changes.owner));
  return assignments;
}

/** Every condition cleared, as a delete leaves a name. */
const NO_CONDITIONS = conditionAssignments({
  expiresAt: null,
  maxReads: null,
  rotateAfterReads: null,
  description: null,
  owner: null,
});

const byNameThenVersion = (
  a: { readonly name: string; readonly version?: number },
  b: { readonly name: string; readonly version?: number },
): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : (a.version ?? 0) - (b.version ?? 0));

/** The first of each key, sorted by name (and version): rows are always locked in one order (see recordReleases). */
function oncePer<T extends { readonly name: string; readonly version: number }>(
  items: readonly T[],
  keyOf: (item: T) => string,
): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) if (!byKey.has(keyOf(item))) byKey.set(keyOf(item), item);
  return [...byKey.values()].sort(byNameThenVersion);
}

/** A refusal found while counting: thrown out of the transaction so that it rolls back everything it wrote. */
class CountRefused extends CodedError {
  readonly code = 'count_refused';
  constructor(readonly outcome: Exclude<ReleaseOutcome, { refused: undefined }>) {
    super(`counting refused: ${outcome.refused}`);
  }
}

/** Takes back counts in the order recordReleases takes their rows: versions, then read windows. */
function* uncount({ versions, windows }: CountedReleases): Work<void> {
  for (const { name, version } of [...versions].sort(byNameThenVersion)) {
    yield* execute(
      sql`UPDATE secret_versions SET releases = releases - 1
          WHERE name = ${name} AND version = ${version} AND releases > 0`,
    );
  }
  for (const { name, windowStart } of [...windows].sort(byNameThenVersion)) {
    yield* execute(
      sql`UPDATE secret_read_windows SET reads = reads - 1
          WHERE name = ${name} AND window_start = ${windowStart} AND reads > 0`,
    );
  }
}

interface FoundRow extends VersionRow, ConditionRow {
  current_version: number;
  releases: number;
}

export class SqlSecretRecords implements SecretRecords {
  constructor(private readonly database: SqlDatabase) {}

  insertVersion(
    name: string,
    encrypt: (version: number) => EncryptedValue,
    details: VersionDetails,
  ): Promise<number> {
    const conditions = conditionAssignments(details.conditions ?? {});
    return this.database.transaction('storing a secret version', function* () {
      const now = new Date().toISOString();
      // The head row is the lock: concurrent writers of one name get consecutive versions.
      const [head] = yield* select<{ last_version: number }>(
        sql`INSERT INTO secret_heads (name, last_version, current_version, updated_at) VALUES (${name}, 1, 1, ${now})
            ON CONFLICT (name) DO UPDATE SET last_version = secret_heads.last_version + 1,
              current_version = secret_heads.last_version + 1, updated_at = excluded.updated_at
            RETURNING last_version`,
      );
      const version = (head as { last_version: number }).last_version;
      if (conditions.length > 0)
        yield* execute(sql`UPDATE secret_heads SET ${join(conditions, ', ')} WHERE name = ${name}`);
      const encrypted = encrypt(version);
      yield* execute(
        sql`INSERT INTO secret_versions (name, version, key_id, wrapped_key, nonce, ciphertext, created_at, bytes,
                                         fingerprint, created_by, created_by_label)
            VALUES (${name}, ${version}, ${encrypted.keyId}, ${encrypted.wrappedKey}, ${encrypted.nonce},
                    ${encrypted.ciphertext}, ${now}, ${details.bytes}, ${details.fingerprint},
                    ${details.createdBy?.tokenId ?? null}, ${details.createdBy?.label ?? null})`,
      );
      return version;
    });
  }

  nextVersion(name: string): Promise<number> {
    return this.database.run('reading a secret version', function* () {
      const [head] = yield* select<{ last_version: number }>(
        sql`SELECT last_version FROM secret_heads WHERE name = ${name}`,
      );
      return (head?.last_version ?? 0) + 1;
    });
  }

  current(names: readonly string[]): Promise<EncryptedSecretRecord[]> {
    if (names.length === 0) return Promise.resolve([]);
    const { dialect } = this.database;
    return this.database.run('reading secrets', function* () {
      // One statement for all names, not one per name.
      const rows = yield* select<VersionRow>(
        sql`SELECT v.name, v.version, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
            FROM secret_heads h JOIN secret_versions v ON v.name = h.name AND v.version = h.current_version
            WHERE ${dialect.oneOf('h.name', names)}`,
      );
      return currentInOrder(names, rows);
    });
  }

  find(references: readonly SecretReference[]): Promise<FoundRecord[]> {
    if (references.length === 0) return Promise.resolve([]);
    const names = [...new Set(references.map((reference) => reference.name))];
    const versions = [
      ...new Set(
        references.flatMap((reference) => (reference.version === undefined ? [] : [reference.version])),
      ),
    ];
    const { dialect } = this.database;
    return this.database.run('reading secrets', function* () {
      // One statement: each name's current version and every version asked of any of the names.
      const rows = yield* select<FoundRow>(
        sql`SELECT h.current_version, ${raw(CONDITION_COLUMNS)}, v.releases,
                   v.name, v.version, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
            FROM secret_heads h JOIN secret_versions v ON v.name = h.name
            WHERE ${dialect.oneOf('h.name', names)} AND h.current_version IS NOT NULL
              AND (v.version = h.current_version OR ${dialect.oneOf('v.version', versions)})`,
      );
      const byKey = new Map(rows.map((row) => [`${row.version}@${row.name}`, row]));
      const currentOf = new Map(rows.map((row) => [row.name, row.current_version]));
      return references.flatMap((reference) => {
        const version = reference.version ?? currentOf.get(reference.name);
        const row = byKey.get(`${version}@${reference.name}`);
        if (row === undefined) return [];
        return [
          {
            name: row.name,
            version: row.version,
            isCurrent: row.version === row.current_version,
            conditions: toConditions(row),
            releases: row.releases,
            encrypted: toSecretRecord(row),
          },
        ];
      });
    });
  }

  recordReleases(
    found: readonly FoundRecord[],
    nowSeconds: number,
    tokenUse?: TokenUse,
  ): Promise<ReleaseOutcome> {
    // Every version of a rotating name is counted: an older one asked for as NAME@N is no way around the limit.
    const rotating = oncePer(
      found.filter((secret) => secret.conditions.rotateAfterReads !== undefined),
      (secret) => `${secret.version}@${secret.name}`,
    );
    const budgeted = oncePer(
      found.filter((secret) => secret.conditions.maxReads !== undefined),
      (secret) => secret.name,
    );
    if (rotating.length === 0 && budgeted.length === 0)
      return Promise.resolve({ refused: undefined, counted: undefined });
    const counting = this.database.transaction('counting secret reads', function* () {
      // The token's use first: a replayed token counts nothing, and of two copies of one token racing (on one
      // replica or two) one records it and counts. Then each count is a conditional write: of two replicas
      // racing for the last read, the second finds the limit reached. A refusal throws, so the transaction rolls
      // back whatever it wrote before (the token's use included).
      if (tokenUse !== undefined && (yield* insertTokenUses([tokenUse])).size === 0)
        throw new CountRefused({ refused: 'token_replayed' });
      for (const { name, version, conditions } of rotating) {
        const released = yield* execute(
          sql`UPDATE secret_versions SET releases = releases + 1
              WHERE name = ${name} AND version = ${version} AND releases < ${conditions.rotateAfterReads}`,
        );
        if (released === 0) throw new CountRefused({ refused: 'rotation_required', name, version });
      }
      const windows: { name: string; windowStart: number }[] = [];
      for (const { name, conditions } of budgeted) {
        const { count, periodSeconds } = conditions.maxReads as { count: number; periodSeconds: number };
        const windowStart = Math.floor(nowSeconds / periodSeconds) * periodSeconds;
        // Only windows before the previous one go: a replica whose clock is a little behind still counts in
        // the window it sees, and must find that window's count there.
        yield* execute(
          sql`DELETE FROM secret_read_windows WHERE name = ${name} AND window_start < ${windowStart - periodSeconds}`,
        );
        const read = yield* select<{ reads: number }>(
          sql`INSERT INTO secret_read_windows (name, window_start, reads) VALUES (${name}, ${windowStart}, 1)
              ON CONFLICT (name, window_start) DO UPDATE SET reads = secret_read_windows.reads + 1
                WHERE secret_read_windows.reads < ${count}
              RETURNING reads`,
        );
        if (read.length === 0) {
          const retryAfterSeconds = Math.max(1, windowStart + periodSeconds - nowSeconds);
          throw new CountRefused({ refused: 'read_budget_exhausted', name, retryAfterSeconds });
        }
        windows.push({ name, windowStart });
      }
      const counted: CountedReleases = {
        versions: rotating.map(({ name, version }) => ({ name, version })),
        windows,
      };
      return { refused: undefined, counted };
    });
    return counting.catch((error: unknown) => {
      if (error instanceof CountRefused) return error.outcome;
      throw error;
    });
  }

  undoReleases(counted: CountedReleases): Promise<void> {
    if (counted.versions.length === 0 && counted.windows.length === 0) return Promise.resolve();
    return this.database.transaction('taking back secret reads', () => uncount(counted));
  }

  updateConditions(name: string, changes: ConditionChanges): Promise<boolean> {
    const assignments = conditionAssignments(changes);
    return this.database.run('changing secret conditions', function* () {
      if (assignments.length === 0) {
        const [head] = yield* select<{ name: string }>(
          sql`SELECT name FROM secret_heads WHERE name = ${name} AND current_version IS NOT NULL`,
        );
        return head !== undefined;
      }
      const changed = yield* execute(
        sql`UPDATE secret_heads SET ${join(assignments, ', ')} WHERE name = ${name} AND current_version IS NOT NULL`,
      );
      return changed === 1;
    });
  }

  history(name: string, limit = MAX_HISTORY_VERSIONS): Promise<SecretHistory | undefined> {
    return this.database.run('reading secret versions', function* () {
      const rows = yield* select<{
        current_version: number | null;
        last_version: number;
        version: number | null;
        created_at: string | null;
        bytes: number | null;
        fingerprint: string | null;
        created_by: string | null;
        created_by_label: string | null;
      }>(
        sql`SELECT h.current_version, h.last_version, v.version, v.created_at, v.bytes, v.fingerprint,
                   v.created_by, v.created_by_label
            FROM secret_heads h LEFT JOIN secret_versions v ON v.name = h.name
            WHERE h.name = ${name}
            ORDER BY v.version DESC
            LIMIT ${limit + 1}`,
      );
      const [head] = rows;
      if (head === undefined) return undefined;
      return {
        name,
        currentVersion: head.current_version ?? undefined,
        lastVersion: head.last_version,
        more: rows.length > limit,
        versions: rows.slice(0, limit).flatMap((row) =>
          row.version === null
            ? []
            : [
                {
                  version: row.version,
                  createdAt: row.created_at as string,
                  bytes: row.bytes ?? undefined,
                  fingerprint: row.fingerprint ?? undefined,
                  createdBy:
                    row.created_by === null
                      ? undefined
                      : { tokenId: row.created_by, label: row.created_by_label ?? '' },
                  current: row.version === row.current_version,
                },
              ],
        ),
      };
    });
  }

  version(name: string, version: number): Promise<EncryptedSecretRecord | undefined> {
    return this.database.run('reading a secret version', function* () {
      const [row] = yield* select<VersionRow>(
        sql`SELECT ${VERSION_COLUMNS} FROM secret_versions WHERE name = ${name} AND version = ${version}`,
      );
      return row === undefined ? undefined : toSecretRecord(row);
    });
  }

  countExpiring(from: string, until: string): Promise<number> {
    return this.database.run('counting expiring secrets', function* () {
      const [row] = yield* select<{ n: number | string }>(
        sql`SELECT count(*) AS n FROM secret_heads
            WHERE expires_at >= ${from} AND expires_at < ${until} AND current_version IS NOT NULL`,
      );
      return Number(row?.n ?? 0);
    });
  }

  currentNames(prefixes: readonly string[], limit?: number): Promise<string[]> {
    const ranges = nameRanges(prefixes);
    if (ranges.length === 0) return Promise.resolve([]);
    const atMost = limit === undefined ? raw('') : sql` LIMIT ${limit}`;
    return this.database.run('listing secrets', function* () {
      // One index range per prefix (no ORDER BY, which could make the planner walk the whole index instead).
      const rows = yield* select<{ name: string }>(
        sql`SELECT name FROM secret_heads
            WHERE current_version IS NOT NULL AND (${join(ranges.map(inRange), ' OR ')})${atMost}`,
      );
      return rows.map((row) => row.name).sort();
    });
  }

  currentVersions(names: readonly string[]): Promise<{ name: string; version: number }[]> {
    if (names.length === 0) return Promise.resolve([]);
    const { dialect } = this.database;
    return this.database.run('reading secret versions', function* () {
      return yield* select<{ name: string; version: number }>(
        sql`SELECT name, current_version AS version FROM secret_heads
            WHERE ${dialect.oneOf('name', names)} AND current_version IS NOT NULL`,
      );
    });
  }

  list(prefix: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<SecretSummary[]> {
    return this.database.run('listing secrets', function* () {
      const rows = yield* select<
        ConditionRow & {
          name: string;
          version: number;
          versions: number | string;
          updated_at: string;
          releases: number | null;
          reads: number | null;
        }
      >(
        sql`SELECT h.name, h.current_version AS version, h.updated_at, ${raw(CONDITION_COLUMNS)},
                   (SELECT count(*) FROM secret_versions v WHERE v.name = h.name) AS versions,
                   (SELECT v.releases FROM secret_versions v
                    WHERE v.name = h.name AND v.version = h.current_version) AS releases,
                   (SELECT w.reads FROM secret_read_windows w
                    WHERE w.name = h.name
                      AND w.window_start = (CAST(${nowSeconds} AS BIGINT) / h.max_reads_period) * h.max_reads_period) AS reads
            FROM secret_heads h
            WHERE h.current_version IS NOT NULL AND substr(h.name, 1, length(${prefix})) = ${prefix}
            ORDER BY h.name`,
      );
      return rows.map((row) => ({
        name: row.name,
        version: row.version,
        versions: Number(row.versions),
        updatedAt: row.updated_at,
        conditions: toConditions(row),
        releases: row.releases ?? 0,
        readsInWindow: row.reads ?? 0,
      }));
    });
  }

  async delete(name: string, purge: boolean): Promise<boolean> {
    const deleted = await this.database.transaction('deleting a secret', function* () {
      const cleared = yield* execute(
        sql`UPDATE secret_heads SET current_version = NULL, updated_at = ${new Date().toISOString()},
                                    ${join(NO_CONDITIONS, ', ')}
            WHERE name = ${name} AND current_version IS NOT NULL`,
      );
      // The rows go with their wrapped data keys: nothing of a purged value can be opened again. Versions before
      // read windows, the order in which recordReleases takes them.
      const purged = purge ? yield* execute(sql`DELETE FROM secret_versions WHERE name = ${name}`) : 0;
      yield* execute(sql`DELETE FROM secret_read_windows WHERE name = ${name}`);
      return cleared + purged > 0;
    });
    // Also after a purge that found nothing: one that committed before its bytes were cleared is run again.
    if (purge) await this.database.clearDeleted?.();
    return deleted;
  }

  keyIdsInUse(): Promise<string[]> {
    return this.database.run('reading key ids', function* () {
      const rows = yield* select<{ key_id: string }>(sql`SELECT DISTINCT key_id FROM secret_versions`);
      return rows.map((row) => row.key_id);
    });
  }

  countNotUnder(keyId: string): Promise<{ total: number; remaining: number }> {
    return this.database.run('counting secret versions', function* () {
      const [counts] = yield* select<{ total: number | string; remaining: number | string }>(
        sql`SELECT count(*) AS total, count(*) FILTER (WHERE key_id <> ${keyId}) AS remaining FROM secret_versions`,
      );
      return { total: Number(counts?.total ?? 0), remaining: Number(counts?.remaining ?? 0) };
    });
  }

  listNotUnder(keyId: string, limit: number): Promise<EncryptedSecretRecord[]> {
    return this.database.run('reading secret versions', function* () {
      const rows = yield* select<VersionRow>(
        sql`SELECT ${VERSION_COLUMNS} FROM secret_versions WHERE key_id <> ${keyId} ORDER BY name, version LIMIT ${limit}`,
      );
      return rows.map(toSecretRecord);
    });
  }

  replaceEncryption(
    updates: readonly { record: EncryptedSecretRecord; fromKeyId: string }[],
  ): Promise<number> {
    return this.database.transaction('re-wrapping secret versions', function* () {
      let changed = 0;
      for (const { record, fromKeyId } of updates) {
        changed += yield* execute(
          sql`UPDATE secret_versions
              SET key_id = ${record.keyId}, wrapped_key = ${record.wrappedKey}, nonce = ${record.nonce},
                  ciphertext = ${record.ciphertext}
              WHERE name = ${record.name} AND version = ${record.version} AND key_id = ${fromKeyId}`,
        );
      }
      return changed;
    });
  }
}
