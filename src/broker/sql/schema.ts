/** The tables of the store, described once; each adapter renders them in its dialect's types. */

type ColumnType = 'text' | 'integer' | 'bigint' | 'bytes';

/** A column's type; a trailing `?` lets it hold NULL. */
type ColumnSpec = ColumnType | `${ColumnType}?`;

interface Table {
  readonly name: string;
  readonly columns: Readonly<Record<string, ColumnSpec>>;
  readonly primaryKey: readonly string[];
  readonly indexes?: readonly { readonly name: string; readonly column: string }[];
  /** SQLite keeps the rows in the primary key's b-tree (a table of small rows looked up only by key). */
  readonly withoutRowid?: true;
}

const TABLES_V1: readonly Table[] = [
  {
    name: 'meta',
    columns: { key: 'text', value: 'text' },
    primaryKey: ['key'],
  },
  {
    name: 'secret_heads',
    columns: { name: 'text', last_version: 'integer', current_version: 'integer?', updated_at: 'text' },
    primaryKey: ['name'],
  },
  {
    name: 'secret_versions',
    columns: {
      name: 'text',
      version: 'integer',
      key_id: 'text',
      wrapped_key: 'bytes',
      nonce: 'bytes',
      ciphertext: 'bytes',
      created_at: 'text',
    },
    primaryKey: ['name', 'version'],
    indexes: [{ name: 'secret_versions_key_id', column: 'key_id' }],
  },
  {
    name: 'used_tokens',
    columns: { issuer: 'text', jti_sha256: 'text', expires_at: 'bigint' },
    primaryKey: ['issuer', 'jti_sha256'],
    indexes: [{ name: 'used_tokens_expires_at', column: 'expires_at' }],
    withoutRowid: true,
  },
  {
    // In SQLite a single INTEGER primary key is the rowid itself.
    name: 'audit_log',
    columns: { seq: 'bigint', record: 'text', prev_hash: 'text', hash: 'text' },
    primaryKey: ['seq'],
  },
  {
    name: 'admin_tokens',
    columns: {
      id: 'text',
      label: 'text',
      role: 'text',
      token_hash: 'bytes',
      created_at: 'text',
      revoked_at: 'text?',
    },
    primaryKey: ['id'],
  },
];

const TYPES: Record<'sqlite' | 'postgres', Record<ColumnType, string>> = {
  // SQLite's INTEGER holds 64 bits; BIGINT would not make audit_log.seq the rowid.
  sqlite: { text: 'TEXT', integer: 'INTEGER', bigint: 'INTEGER', bytes: 'BLOB' },
  postgres: { text: 'TEXT', integer: 'INTEGER', bigint: 'BIGINT', bytes: 'BYTEA' },
};

function createTable(table: Table, dialect: 'sqlite' | 'postgres'): string {
  const columns = Object.entries(table.columns).map(([name, spec]) => {
    const nullable = spec.endsWith('?');
    const type = (nullable ? spec.slice(0, -1) : spec) as ColumnType;
    return `${name} ${TYPES[dialect][type]}${nullable ? '' : ' NOT NULL'}`;
  });
  const options = table.withoutRowid === true && dialect === 'sqlite' ? ' WITHOUT ROWID' : '';
  const indexes = (table.indexes ?? []).map(
    (index) => `CREATE INDEX ${index.name} ON ${table.name} (${index.column});`,
  );
  return [
    `CREATE TABLE ${table.name} (${[...columns, `PRIMARY KEY (${table.primaryKey.join(', ')})`].join(', ')})${options};`,
    ...indexes,
  ].join('\n');
}

/**
 * Secret names compare byte by byte in both stores, so the names under a prefix are one range of the name index
 * (how a requested pattern reads only the names it could match). SQLite's TEXT does already; PostgreSQL's would
 * follow the database's collation, in which "prod/z" may sort after "prod/{".
 */
const NAMES_IN_BYTE_ORDER: Readonly<Record<'sqlite' | 'postgres', string>> = {
  sqlite: '',
  postgres: ['secret_heads', 'secret_versions']
    .map((table) => `ALTER TABLE ${table} ALTER COLUMN name TYPE TEXT COLLATE "C";`)
    .join('\n'),
};

/**
 * The purge walks used_tokens in primary key order (SqlReplayCache.purgeExpired); nothing else read this index,
 * which cost every insert an update.
 */
const NO_EXPIRY_INDEX = 'DROP INDEX IF EXISTS used_tokens_expires_at;';

/**
 * Secret lifecycle: conditions per name on its head row; per version the length and keyed fingerprint of its
 * value, who stored it and how many times it was released (counted while the name has rotate_after_reads); read
 * budgets counted per name and window. The index on expires_at keeps the "expiring soon" count a range read.
 */
const SECRET_LIFECYCLE: Readonly<Record<'sqlite' | 'postgres', string>> = {
  sqlite: lifecycle('INTEGER', 'TEXT'),
  // ISO times compare as text in byte order, whatever the database's collation.
  postgres: lifecycle('BIGINT', 'TEXT COLLATE "C"'),
};

function lifecycle(bigint: string, isoTime: string): string {
  const headColumns = [
    `expires_at ${isoTime}`,
    'max_reads INTEGER',
    'max_reads_period INTEGER',
    'rotate_after_reads INTEGER',
    'description TEXT',
    'owner TEXT',
  ];
  const versionColumns = [
    'bytes INTEGER',
    'fingerprint TEXT',
    'created_by TEXT',
    'created_by_label TEXT',
    'releases INTEGER NOT NULL DEFAULT 0',
  ];
  return [
    ...headColumns.map((column) => `ALTER TABLE secret_heads ADD COLUMN ${column};`),
    ...versionColumns.map((column) => `ALTER TABLE secret_versions ADD COLUMN ${column};`),
    'CREATE INDEX secret_heads_expires_at ON secret_heads (expires_at);',
    `CREATE TABLE secret_read_windows (name TEXT NOT NULL, window_start ${bigint} NOT NULL, reads INTEGER NOT NULL, PRIMARY KEY (name, window_start));`,
  ].join('\n');
}

/**
 * Cross-job outputs: the run-output key pairs (the private key wrapped under a master key like a data key; which
 * one is current is the meta row `run_output_key`), and the outputs, each still sealed to one of those keys,
 * keyed by issuer, run and name. The purge walks run_outputs in primary key order, as it walks used_tokens.
 */
const RUN_OUTPUTS: Readonly<Record<'sqlite' | 'postgres', string>> = {
  sqlite: runOutputs('INTEGER', 'BLOB', ''),
  postgres: runOutputs('BIGINT', 'BYTEA', ' COLLATE "C"'),
};

function runOutputs(bigint: string, bytes: string, byteOrder: string): string {
  return [
    `CREATE TABLE run_output_keys (key_id TEXT NOT NULL, public_key ${bytes} NOT NULL, wrap_key_id TEXT NOT NULL, wrapped_key ${bytes} NOT NULL, nonce ${bytes} NOT NULL, ciphertext ${bytes} NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (key_id));`,
    `CREATE TABLE run_outputs (issuer TEXT${byteOrder} NOT NULL, run TEXT${byteOrder} NOT NULL, name TEXT${byteOrder} NOT NULL, version INTEGER NOT NULL, key_id TEXT NOT NULL, sealed ${bytes} NOT NULL, created_at TEXT NOT NULL, expires_at ${bigint} NOT NULL, request_id TEXT NOT NULL, putter TEXT NOT NULL, PRIMARY KEY (issuer, run, name));`,
  ].join('\n');
}

/** The schema migrations in order, as SQL scripts of `dialect`; the database records how many it applied. */
export function migrations(dialect: 'sqlite' | 'postgres'): readonly string[] {
  return [
    TABLES_V1.map((table) => createTable(table, dialect)).join('\n'),
    NAMES_IN_BYTE_ORDER[dialect],
    NO_EXPIRY_INDEX,
    SECRET_LIFECYCLE[dialect],
    RUN_OUTPUTS[dialect],
  ];
}
