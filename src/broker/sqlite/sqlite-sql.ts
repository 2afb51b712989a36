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
import { guarded, type SqliteDatabase } from './database.js';

const SQLITE: Dialect = {
  name: 'sqlite',
  // One value for any number of names: a JSON array.
  oneOf: (column, names) => sql`${raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(names)}))`,
  // The IMMEDIATE transaction already holds the database's one write lock.
  auditChainLock: undefined,
  auditJson: {
    from: 'audit_log',
    member: (key) => `json_extract(record, '$.${key}')`,
    elements: (key) => `json_each(record, '$.${key}') AS e`,
    elementMember: (key) => `json_extract(e.value, '$.${key}')`,
  },
};

/** The shared stores' statements on better-sqlite3: synchronous, each prepared once. */
export function sqliteSql(database: SqliteDatabase): SqlDatabase {
  // Our statements' texts are few (a filter's set of conditions, a batch's row count), so the cache is bounded.
  const prepared = new Map<string, Database.Statement>();
  const answer = (statement: Statement) => {
    const text = render(statement, () => '?');
    let prepare = prepared.get(text);
    if (prepare === undefined) {
      prepare = database.prepare(text);
      prepared.set(text, prepare);
    }
    if (prepare.reader)
      return { rows: prepare.all(...statement.values) as Record<string, unknown>[], changes: 0 };
    return { rows: [], changes: prepare.run(...statement.values).changes };
  };
  return {
    dialect: SQLITE,
    run: (what, work) => guarded(database, what, () => runSync(work(), answer)),
    // IMMEDIATE: the write lock is taken at BEGIN, where a busy database is retried by guarded().
    transaction: (what, work) =>
      guarded(database, what, () => database.transaction(() => runSync(work(), answer)).immediate()),
  };
}
