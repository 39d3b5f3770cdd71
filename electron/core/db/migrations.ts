/**
 * Numbered schema migrations for project.db. Each runs in one transaction and bumps `user_version`.
 * Never edit a released migration: add a new one (each has a test in tests/medium/migrations.test.ts).
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up: (db: Database) => void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'projects, roots, classes, images, jobs',
    up: (db) =>
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE roots (
          id INTEGER PRIMARY KEY,
          path TEXT NOT NULL UNIQUE,
          added_at TEXT NOT NULL
        );
        CREATE TABLE classes (
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE COLLATE NOCASE,
          color TEXT NOT NULL,
          position INTEGER NOT NULL,
          hotkey TEXT
        );
        CREATE TABLE images (
          id INTEGER PRIMARY KEY,
          root_id INTEGER NOT NULL REFERENCES roots(id),
          rel_path TEXT NOT NULL,          -- '/'-separated, relative to the root, for display and CSV
          rel_path_raw BLOB,               -- raw bytes of a name that is not valid UTF-8 (null otherwise)
          name TEXT NOT NULL,              -- basename, the sort key
          sha256 TEXT,                     -- null when the file could not be read
          size INTEGER NOT NULL,
          mtime_ms INTEGER NOT NULL,
          width INTEGER, height INTEGER, channels INTEGER, bit_depth INTEGER,
          format TEXT, pages INTEGER, orientation INTEGER,
          min_value REAL, max_value REAL,  -- pixel range, to scale 16-bit images for display
          status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'missing')),
          error TEXT,
          note TEXT,
          class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
          split TEXT CHECK (split IN ('train', 'val', 'test')),
          imported_at TEXT NOT NULL,
          UNIQUE (root_id, rel_path)
        );
        CREATE INDEX images_by_name ON images(name, id);
        CREATE INDEX images_by_mtime ON images(mtime_ms, id);
        CREATE INDEX images_by_size ON images(size, id);
        CREATE INDEX images_by_class ON images(class_id, name, id);
        CREATE INDEX images_by_split ON images(split, name, id);
        CREATE INDEX images_by_status ON images(status, name, id);
        CREATE INDEX images_by_sha ON images(sha256);
        CREATE TABLE jobs (
          id TEXT PRIMARY KEY,
          kind TEXT NOT NULL,
          state TEXT NOT NULL,
          params TEXT NOT NULL,            -- JSON: what is needed to resume
          done INTEGER NOT NULL DEFAULT 0,
          total INTEGER NOT NULL DEFAULT 0,
          message TEXT NOT NULL DEFAULT '',
          result TEXT,                     -- JSON
          started_at TEXT NOT NULL,
          ended_at TEXT
        );
      `),
  },
];

export const latestVersion = migrations[migrations.length - 1]!.version;

/** Brings the database to the latest version; refuses a database newer than this app. */
export function migrate(db: Database): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > latestVersion) {
    throw new Error(`project.db is at schema version ${from}, newer than this Loupe (${latestVersion}): update Loupe`);
  }
  for (const m of migrations) {
    if (m.version <= from) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return { from, to: latestVersion };
}
