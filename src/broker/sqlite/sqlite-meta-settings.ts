import type { MetaSettings } from '../store/interfaces.js';
import { guarded, type SqliteDatabase } from './database.js';

export class SqliteMetaSettings implements MetaSettings {
  private readonly statements;

  constructor(database: SqliteDatabase) {
    this.statements = {
      get: database.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      set: database.prepare<[string, string]>(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  get(key: string): Promise<string | undefined> {
    return guarded('reading settings', () => this.statements.get.get(key)?.value);
  }

  set(key: string, value: string): Promise<void> {
    return guarded('writing settings', () => {
      this.statements.set.run(key, value);
    });
  }
}
