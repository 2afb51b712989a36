/**
 * Many stored secret names, fast, for the pattern-range test and bench/pattern-bench.ts: the SQL store of
 * either adapter, names written straight into its table, and what the database says a statement reads.
 */
import { createPool, migrate, postgresSql } from '../../src/broker/postgres/database.js';
import { render, type SqlDatabase, type Statement } from '../../src/broker/sql/statement.js';
import { openSqliteDatabase } from '../../src/broker/sqlite/database.js';
import { sqliteSql } from '../../src/broker/sqlite/sqlite-sql.js';

export interface NameStore {
  readonly database: SqlDatabase;
  /** Stores `names` as current secrets (heads only, no versions: listing names reads nothing else). */
  insert(names: readonly string[]): Promise<void>;
  /** How the database runs `statement`: its plan's scans, and on PostgreSQL the table rows they read. */
  scans(statement: Statement): Promise<{ readonly plan: string[]; readonly rowsRead?: number }>;
  close(): Promise<void>;
}

export function sqliteNameStore(file: string): NameStore {
  const connection = openSqliteDatabase(file);
  const { database } = connection;
  const insert = database.prepare(
    "INSERT INTO secret_heads (name, last_version, current_version, updated_at) VALUES (?, 1, 1, 'now')",
  );
  return {
    database: sqliteSql(connection),
    insert: async (names) => {
      database.transaction(() => names.forEach((name) => insert.run(name)))();
    },
    scans: async (statement) => {
      const plan = database
        .prepare(`EXPLAIN QUERY PLAN ${render(statement, () => '?')}`)
        .all(...statement.values) as { detail: string }[];
      return { plan: plan.map((row) => row.detail) };
    },
    close: () => connection.close(),
  };
}

export async function postgresNameStore(url: string): Promise<NameStore> {
  const pool = createPool(url);
  await migrate(pool);
  return {
    database: postgresSql(pool),
    insert: async (names) => {
      await pool.query(
        "INSERT INTO secret_heads (name, last_version, current_version, updated_at) SELECT unnest($1::text[]), 1, 1, 'now'",
        [names],
      );
      await pool.query('ANALYZE secret_heads');
    },
    scans: async (statement) => {
      const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${render(statement, (position) => `$${position}`)}`,
        [...statement.values],
      );
      const root = (rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan;
      const nodes = flatten(root).filter((node) => SCANS.includes(node['Node Type']));
      return {
        plan: nodes.map(
          (node) => `${node['Node Type']} ${node['Index Name'] ?? node['Relation Name'] ?? ''}`,
        ),
        rowsRead: nodes.reduce(
          (sum, node) =>
            sum + node['Actual Rows'] * node['Actual Loops'] + (node['Rows Removed by Filter'] ?? 0),
          0,
        ),
      };
    },
    close: () => pool.end(),
  };
}

/** The plan nodes that take rows from a table or an index. */
const SCANS = ['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Index Scan'];

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Actual Rows': number;
  readonly 'Actual Loops': number;
  readonly 'Rows Removed by Filter'?: number;
  readonly Plans?: readonly PlanNode[];
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}
