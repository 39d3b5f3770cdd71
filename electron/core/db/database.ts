/** Opens project.db with the pragmas Loupe relies on. The only module that constructs better-sqlite3. */
import BetterSqlite3 from 'better-sqlite3';
import type { Database, Statement } from 'better-sqlite3';
import { migrate } from './migrations.ts';

export type { Database };

export function openDatabase(file: string, opts: { readonly?: boolean } = {}): Database {
  const db = new BetterSqlite3(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // A project.db may come from someone else (double-click opens it): its views and triggers may not call
  // functions or virtual tables with side effects (https://sqlite.org/pragma.html#pragma_trusted_schema).
  db.pragma('trusted_schema = OFF');
  // NORMAL is durable in WAL mode except for the last transactions on power loss; never corrupts.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // 64 MB of page cache (the default is 2 MB): bulk labels and re-splits touch every index of 100k-image tables.
  db.pragma('cache_size = -65536');
  if (!opts.readonly) migrate(db);
  return db;
}

const statements = new WeakMap<Database, Map<string, Statement>>();

/**
 * A prepared statement kept per connection, for the hot paths (a label keystroke runs a dozen statements; preparing
 * them every time was a tenth of its cost). Only for SQL from a closed set of strings, never built from input, and
 * never switched to pluck/raw/expand: the statement is shared by every caller of the same text.
 */
export function cached(db: Database, sql: string): Statement {
  let byText = statements.get(db);
  if (!byText) statements.set(db, (byText = new Map()));
  let st = byText.get(sql);
  if (!st) byText.set(sql, (st = db.prepare(sql)));
  return st;
}
