import type Database from 'better-sqlite3';
import {
  raw,
  render,
  runSync,
  sql,
  type Dialect,
  type SqlDatabase,
  type Statement,
} from '../sql/statement.js';
import { guarded, type SqliteConnection } from './database.js';

const SQLITE: Dialect = {
  name: 'sqlite',
  // One value for any number of names: a JSON array.
  oneOf: (column, values) => sql`${raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
  // The IMMEDIATE transaction already holds the database's one write lock.
  auditChainLock: undefined,
  auditJson: {
    from: 'audit_log',
    member: (key) => `json_extract(record, '$.${key}')`,
    elements: (key) => `json_each(record, '$.${key}') AS e`,
    elementMember: (key) => `json_extract(e.value, '$.${key}')`,
  },
};

/**
 * The shared stores' statements on better-sqlite3: synchronous, each prepared once. A call that wrote resolves
 * only once its commit is on disk (`connection.durable()`), so nothing is answered on a write a power cut could
 * undo; one that cannot get there fails with StoreUnavailableError.
 */
export function sqliteSql(connection: SqliteConnection): SqlDatabase {
  const { database } = connection;
  // Our statements' texts are few (a filter's set of conditions, a batch's row count), so the cache is bounded.
  const prepared = new Map<string, Database.Statement>();
  const statementFor = (statement: Statement) => {
    const text = render(statement, () => '?');
    let prepare = prepared.get(text);
    if (prepare === undefined) {
      prepare = database.prepare(text);
      prepared.set(text, prepare);
    }
    return prepare;
  };
  const answer = (prepare: Database.Statement, values: readonly unknown[]) => {
    if (prepare.reader) return { rows: prepare.all(...values) as Record<string, unknown>[], changes: 0 };
    return { rows: [], changes: prepare.run(...values).changes };
  };
  return {
    dialect: SQLITE,
    run: async (what, work) => {
      // Each statement commits on its own; any that can write (INSERT … RETURNING reads too) makes the call wait.
      let wrote = false;
      const result = await guarded(database, what, () =>
        runSync(work(), (statement) => {
          const prepare = statementFor(statement);
          if (!prepare.readonly) {
            connection.assertWritable();
            wrote = true;
          }
          return answer(prepare, statement.values);
        }),
      );
      if (wrote) await connection.durable();
      return result;
    },
    // IMMEDIATE: the write lock is taken at BEGIN, where a busy database is retried by guarded().
    transaction: async (what, work) => {
      connection.assertWritable();
      const result = await guarded(database, what, () =>
        database
          .transaction(() =>
            runSync(work(), (statement) => answer(statementFor(statement), statement.values)),
          )
          .immediate(),
      );
      await connection.durable();
      return result;
    },
    settled: () => connection.durable(),
    clearDeleted: () => connection.clearDeleted(),
  };
}
