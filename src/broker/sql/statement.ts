/**
 * The SQL both adapters share, written once. A store operation is a generator that yields each statement it
 * needs and receives that statement's result: the SQLite adapter answers synchronously inside one
 * better-sqlite3 transaction, the PostgreSQL adapter awaits each answer on one pooled connection. The
 * operation's logic (what to read, what to write, in which order) is the same for both.
 */

/** SQL text with its values kept apart; the dialect decides how a placeholder is spelled. */
export interface Statement {
  /** The text around the values: `parts.length === values.length + 1`. */
  readonly parts: readonly string[];
  readonly values: readonly unknown[];
}

export interface StatementResult {
  readonly rows: readonly Record<string, unknown>[];
  /** Rows inserted, updated or deleted. */
  readonly changes: number;
}

/** A store operation: yields statements, returns its answer. */
export type Work<T> = Generator<Statement, T, StatementResult>;

function isStatement(value: unknown): value is Statement {
  return typeof value === 'object' && value !== null && 'parts' in value && 'values' in value;
}

/**
 * `sql\`SELECT … WHERE name = ${name}\``: every interpolated value becomes a placeholder, never text. An
 * interpolated Statement (a fragment) is spliced in with its own values.
 */
export function sql(strings: TemplateStringsArray, ...values: readonly unknown[]): Statement {
  const parts: string[] = [strings[0] as string];
  const kept: unknown[] = [];
  values.forEach((value, index) => {
    const after = strings[index + 1] as string;
    if (isStatement(value)) {
      parts[parts.length - 1] += value.parts[0] as string;
      kept.push(...value.values);
      parts.push(...value.parts.slice(1));
      parts[parts.length - 1] += after;
    } else {
      kept.push(value);
      parts.push(after);
    }
  });
  return { parts, values: kept };
}

/** Fixed SQL text (a table or column name chosen by our code, never by input). */
export function raw(text: string): Statement {
  return { parts: [text], values: [] };
}

/** Fragments joined by `separator`. */
export function join(fragments: readonly Statement[], separator: string): Statement {
  return (
    fragments.reduce<Statement | undefined>(
      (joined, fragment) => (joined === undefined ? fragment : sql`${joined}${raw(separator)}${fragment}`),
      undefined,
    ) ?? raw('')
  );
}

/** `(a, b), (c, d)`: the rows of a multi-row VALUES list. */
export function valueRows(rows: readonly (readonly unknown[])[]): Statement {
  return join(
    rows.map(
      (row) =>
        sql`(${join(
          row.map((value) => sql`${value}`),
          ', ',
        )})`,
    ),
    ', ',
  );
}

/** The text of `statement` with placeholders spelled by `placeholder` (given the value's 1-based position). */
export function render(statement: Statement, placeholder: (position: number) => string): string {
  return statement.parts.reduce((text, part, index) => `${text}${placeholder(index)}${part}`);
}

/** Runs a statement that returns rows. The caller names the row shape the statement selects. */
export function* select<Row>(statement: Statement): Work<Row[]> {
  const { rows } = yield statement;
  return rows as Row[];
}

/** Runs a statement that changes rows; returns how many it changed. */
export function* execute(statement: Statement): Work<number> {
  const { changes } = yield statement;
  return changes;
}

/** The database behind the shared stores, as each adapter provides it. */
export interface SqlDatabase {
  readonly dialect: Dialect;
  /**
   * Runs `work` without a transaction: each statement commits on its own. For work of one statement.
   * `what` names the work in a StoreUnavailableError ("the database failed while <what>").
   */
  run<T>(what: string, work: () => Work<T>): Promise<T>;
  /** Runs `work` in one transaction, which in SQLite holds the write lock from its start. */
  transaction<T>(what: string, work: () => Work<T>): Promise<T>;
  /**
   * Resolves once every commit made before the call, by any connection to this database, is on disk. What a read
   * shows that leaves the broker (a published chain head) waits for it: with SQLite another call's commit can be
   * read before its sync.
   */
  settled(): Promise<void>;
  /**
   * After rows were deleted for good (a purge): clears their bytes from the database's files where the adapter
   * can. SQLite zeroes deleted content as it deletes (secure_delete); this copies the log into the database file
   * and truncates the log, which held the rows' pages as they were written. PostgreSQL does nothing: old row
   * versions stay in the table until VACUUM reuses their space, and in its WAL and backups (docs/operations.md).
   * Absent: nothing to clear.
   */
  clearDeleted?(): Promise<void>;
}

/** What is spelled differently between SQLite and PostgreSQL. */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** `column IN values` for a list of any length (names, or version numbers), as one value. */
  oneOf(column: string, values: readonly string[] | readonly number[]): Statement;
  /** Taken first in an audit write transaction so writers from every replica take turns at the chain. */
  readonly auditChainLock: Statement | undefined;
  /** The audit_log table with its record readable as JSON, and how to read its members. */
  readonly auditJson: AuditJson;
}

export interface AuditJson {
  /** The FROM clause: audit_log and, where needed, its record parsed once per row. */
  readonly from: string;
  /** The text of top-level member `key` of the record. */
  member(key: string): string;
  /** A row source over array member `key` of the record, each element in column `e.value`. */
  elements(key: string, kind: 'text' | 'object'): string;
  /** The text of member `key` of an element from `elements(…, 'object')`. */
  elementMember(key: string): string;
}

/** Drives `work` to its end, answering each statement synchronously. */
export function runSync<T>(work: Work<T>, answer: (statement: Statement) => StatementResult): T {
  let step = work.next();
  while (step.done !== true) step = work.next(answer(step.value));
  return step.value;
}

/** Drives `work` to its end, awaiting each statement's answer. */
export async function runAsync<T>(
  work: Work<T>,
  answer: (statement: Statement) => Promise<StatementResult>,
): Promise<T> {
  let step = work.next();
  while (step.done !== true) step = work.next(await answer(step.value));
  return step.value;
}
