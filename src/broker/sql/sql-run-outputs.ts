import type { EncryptedValue } from '../store/envelope.js';
import type {
  FoundOutput,
  OutputKey,
  OutputPut,
  OutputPutOutcome,
  PurgeBatchOf,
  RunOutputRecords,
  StoredOutputKey,
  TokenUse,
} from '../store/interfaces.js';
import { insertTokenUses } from './token-uses.js';
import { execute, raw, select, sql, valueRows, type SqlDatabase } from './statement.js';

/** The meta row that names the current run-output key. */
export const CURRENT_OUTPUT_KEY_SETTING = 'run_output_key';

interface OutputKeyRow {
  key_id: string;
  public_key: Buffer;
  wrap_key_id: string;
  wrapped_key: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  created_at: string;
}

interface FoundRow {
  name: string;
  version: number;
  key_id: string;
  sealed: Buffer;
  request_id: string;
}

const setCurrent = (keyId: string, replace: boolean) =>
  sql`INSERT INTO meta (key, value) VALUES (${CURRENT_OUTPUT_KEY_SETTING}, ${keyId})
      ON CONFLICT (key) DO ${raw(replace ? 'UPDATE SET value = excluded.value' : 'NOTHING')}`;

const currentKey = sql`SELECT value FROM meta WHERE key = ${CURRENT_OUTPUT_KEY_SETTING}`;

export class SqlRunOutputs implements RunOutputRecords {
  constructor(private readonly database: SqlDatabase) {}

  keys(): Promise<StoredOutputKey[]> {
    return this.database.run('reading the run-output keys', function* () {
      const rows = yield* select<OutputKeyRow>(
        sql`SELECT * FROM run_output_keys ORDER BY created_at, key_id`,
      );
      return rows.map((row) => ({
        keyId: row.key_id,
        publicKey: row.public_key,
        wrapped: {
          keyId: row.wrap_key_id,
          wrappedKey: row.wrapped_key,
          nonce: row.nonce,
          ciphertext: row.ciphertext,
        },
        createdAt: row.created_at,
      }));
    });
  }

  currentKeyId(): Promise<string | undefined> {
    return this.database.run('reading the current run-output key', function* () {
      const [row] = yield* select<{ value: string }>(currentKey);
      return row?.value;
    });
  }

  addKey(key: StoredOutputKey, makeCurrent: boolean): Promise<string> {
    return this.database.transaction('storing a run-output key', function* () {
      const { wrapped } = key;
      yield* execute(
        sql`INSERT INTO run_output_keys (key_id, public_key, wrap_key_id, wrapped_key, nonce, ciphertext, created_at)
            VALUES (${key.keyId}, ${key.publicKey}, ${wrapped.keyId}, ${wrapped.wrappedKey}, ${wrapped.nonce},
                    ${wrapped.ciphertext}, ${key.createdAt})`,
      );
      yield* execute(setCurrent(key.keyId, makeCurrent));
      const [row] = yield* select<{ value: string }>(currentKey);
      return row?.value ?? key.keyId;
    });
  }

  rewrapKey(keyId: string, wrapped: EncryptedValue, fromWrapKeyId: string): Promise<void> {
    return this.database.run('re-wrapping a run-output key', function* () {
      yield* execute(
        sql`UPDATE run_output_keys
            SET wrap_key_id = ${wrapped.keyId}, wrapped_key = ${wrapped.wrappedKey}, nonce = ${wrapped.nonce},
                ciphertext = ${wrapped.ciphertext}
            WHERE key_id = ${keyId} AND wrap_key_id = ${fromWrapKeyId}`,
      );
    });
  }

  async dropOldKeys(): Promise<{ keyIds: string[]; outputs: number }> {
    const dropped = await this.database.transaction('dropping old run-output keys', function* () {
      const [current] = yield* select<{ value: string }>(currentKey);
      if (current === undefined) return { keyIds: [], outputs: 0 };
      const old = yield* select<{ key_id: string }>(
        sql`SELECT key_id FROM run_output_keys WHERE key_id <> ${current.value} ORDER BY key_id`,
      );
      if (old.length === 0) return { keyIds: [], outputs: 0 };
      yield* execute(sql`DELETE FROM run_output_keys WHERE key_id <> ${current.value}`);
      const outputs = yield* execute(sql`DELETE FROM run_outputs WHERE key_id <> ${current.value}`);
      return { keyIds: old.map((row) => row.key_id), outputs };
    });
    if (dropped.keyIds.length > 0) await this.database.clearDeleted?.();
    return dropped;
  }

  put(put: OutputPut, tokenUse: TokenUse | undefined): Promise<OutputPutOutcome> {
    // PostgreSQL: the keys' rows are held until the commit, so a concurrent drop waits and then deletes these
    // outputs too. SQLite's transaction holds the write lock throughout.
    const hold = raw(this.database.dialect.name === 'postgres' ? ' FOR SHARE' : '');
    const keyIds = [...new Set(put.outputs.map((output) => output.keyId))];
    const { oneOf } = this.database.dialect;
    return this.database.transaction('storing run outputs', function* () {
      const held = yield* select<{ key_id: string }>(
        sql`SELECT key_id FROM run_output_keys WHERE ${oneOf('key_id', keyIds)}${hold}`,
      );
      const stored = new Set(held.map((row) => row.key_id));
      const missing = keyIds.filter((id) => !stored.has(id));
      if (missing.length > 0) return { refused: 'key_dropped', keyIds: missing } as OutputPutOutcome;
      if (tokenUse !== undefined && (yield* insertTokenUses([tokenUse])).size === 0)
        return { refused: 'token_replayed' } as OutputPutOutcome;
      const rows = put.outputs.map((output) => [
        put.issuer,
        put.run,
        output.name,
        1,
        output.keyId,
        output.sealed,
        put.createdAt,
        output.expiresAtSeconds,
        put.requestId,
        put.putter,
      ]);
      const versions = yield* select<{ name: string; version: number }>(
        sql`INSERT INTO run_outputs (issuer, run, name, version, key_id, sealed, created_at, expires_at, request_id, putter)
            VALUES ${valueRows(rows)}
            ON CONFLICT (issuer, run, name) DO UPDATE SET
              version = run_outputs.version + 1, key_id = excluded.key_id, sealed = excluded.sealed,
              created_at = excluded.created_at, expires_at = excluded.expires_at,
              request_id = excluded.request_id, putter = excluded.putter
            RETURNING name, version`,
      );
      const outcome: OutputPutOutcome = {
        refused: undefined,
        versions: new Map(versions.map((row) => [row.name, Number(row.version)])),
      };
      return outcome;
    });
  }

  find(issuer: string, run: string, names: readonly string[], nowSeconds: number): Promise<FoundOutput[]> {
    if (names.length === 0) return Promise.resolve([]);
    const { oneOf } = this.database.dialect;
    return this.database.run('reading run outputs', function* () {
      const rows = yield* select<FoundRow>(
        sql`SELECT o.name, o.version, o.key_id, o.sealed, o.request_id
            FROM run_outputs o JOIN run_output_keys k ON k.key_id = o.key_id
            WHERE o.issuer = ${issuer} AND o.run = ${run} AND ${oneOf('o.name', names)}
              AND o.expires_at > ${nowSeconds}`,
      );
      return rows.map((row) => ({
        name: row.name,
        version: Number(row.version),
        keyId: row.key_id,
        sealed: row.sealed,
        requestId: row.request_id,
      }));
    });
  }

  purgeExpired(nowSeconds: number, window: number, after?: OutputKey): Promise<PurgeBatchOf<OutputKey>> {
    const from =
      after === undefined
        ? sql`TRUE`
        : sql`(issuer, run, name) > (${after.issuer}, ${after.run}, ${after.name})`;
    const inKeyOrder = sql`FROM run_outputs WHERE ${from} ORDER BY issuer, run, name`;
    return this.database.run('purging expired run outputs', function* () {
      const [last] = yield* select<OutputKey>(
        sql`SELECT issuer, run, name ${inKeyOrder} LIMIT 1 OFFSET ${window - 1}`,
      );
      const purged = yield* execute(
        sql`DELETE FROM run_outputs
            WHERE (issuer, run, name) IN (SELECT issuer, run, name ${inKeyOrder} LIMIT ${window})
              AND expires_at <= ${nowSeconds}`,
      );
      return {
        purged,
        next: last === undefined ? undefined : { issuer: last.issuer, run: last.run, name: last.name },
      };
    });
  }
}
