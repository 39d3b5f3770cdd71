/** Opens project.db with the pragmas Loupe relies on. The only module that constructs better-sqlite3. */
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { migrate } from './migrations.ts';

export type { Database };

export function openDatabase(file: string, opts: { readonly?: boolean } = {}): Database {
  const db = new BetterSqlite3(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // NORMAL is durable in WAL mode except for the last transactions on power loss; never corrupts.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // 64 MB of page cache (the default is 2 MB): bulk labels and re-splits touch every index of 100k-image tables.
  db.pragma('cache_size = -65536');
  if (!opts.readonly) migrate(db);
  return db;
}
