import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase } from '../../electron/core/db/database.ts';
import { latestVersion, migrate, migrations } from '../../electron/core/db/migrations.ts';
import { tempDir } from '../helpers/tmp.ts';

test('migrations are numbered 1..n without gaps', () => {
  assert.deepEqual(
    migrations.map((m) => m.version),
    migrations.map((_, i) => i + 1),
  );
  assert.equal(latestVersion, migrations.length);
});

test('a fresh project.db is at the latest user_version with WAL and foreign keys', () => {
  const file = join(tempDir(), 'project.db');
  const db = openDatabase(file);
  try {
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map(
      (t) => t.name,
    );
    for (const t of ['meta', 'roots', 'classes', 'images', 'jobs']) assert.ok(tables.includes(t), t);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
});

test('re-opening is a no-op', () => {
  const file = join(tempDir(), 'project.db');
  openDatabase(file).close();
  const db = openDatabase(file);
  try {
    assert.deepEqual(migrate(db), { from: latestVersion, to: latestVersion });
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
  } finally {
    db.close();
  }
});

test('a database from a newer Loupe is refused, untouched', () => {
  const file = join(tempDir(), 'project.db');
  const raw = new BetterSqlite3(file);
  raw.pragma(`user_version = ${latestVersion + 1}`);
  raw.close();
  assert.throws(() => openDatabase(file), /newer than this Loupe/);
  const again = new BetterSqlite3(file);
  assert.equal(again.pragma('user_version', { simple: true }), latestVersion + 1);
  assert.equal((again.prepare(`SELECT COUNT(*) AS n FROM sqlite_master`).get() as { n: number }).n, 0);
  again.close();
});

for (const m of migrations) {
  test(`migration ${m.version} (${m.name}) upgrades the previous version's database and keeps its rows`, () => {
    const file = join(tempDir(), 'project.db');
    const db = new BetterSqlite3(file);
    try {
      for (const earlier of migrations.filter((x) => x.version < m.version)) earlier.up(db);
      const previous = migrations.filter((x) => x.version < m.version).at(-1)?.version ?? 0;
      db.pragma(`user_version = ${previous}`);
      if (m.version > 1) {
        db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
        db.prepare(`INSERT INTO classes (id, name, color, position) VALUES (1, 'cat', '#000000', 0)`).run();
        db.prepare(
          `INSERT INTO images (root_id, rel_path, name, size, mtime_ms, class_id, split, imported_at)
           VALUES (1, 'train/cat/a.png', 'a.png', 10, 1, 1, 'train', 'now')`,
        ).run();
      }
      assert.deepEqual(migrate(db), { from: previous, to: latestVersion });
      assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
      if (m.version > 1) {
        const row = db.prepare(`SELECT rel_path, class_id, split FROM images`).get();
        assert.deepEqual({ ...(row as object) }, { rel_path: 'train/cat/a.png', class_id: 1, split: 'train' });
      }
      assert.equal((db.pragma('foreign_key_check') as unknown[]).length, 0);
    } finally {
      db.close();
    }
  });
}

test('migration 7: rows imported before it have channels_equal unknown (null), and a re-import may fill it', () => {
  const file = join(tempDir(), 'project.db');
  const db = new BetterSqlite3(file);
  try {
    for (const m of migrations.filter((x) => x.version < 7)) m.up(db);
    db.pragma('user_version = 6');
    db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
    db.prepare(`INSERT INTO images (root_id, rel_path, name, size, mtime_ms, channels, imported_at) VALUES (1, 'a.png', 'a.png', 10, 1, 3, 'now')`).run();
    migrate(db);
    assert.equal(db.prepare('SELECT channels_equal FROM images').pluck().get(), null);
    db.prepare('UPDATE images SET channels_equal = 1').run();
    assert.equal(db.prepare('SELECT channels_equal FROM images').pluck().get(), 1);
  } finally {
    db.close();
  }
});

test('a failing migration rolls back whole and leaves the version unchanged', () => {
  const db = openDatabase(join(tempDir(), 'project.db'));
  const failing = {
    version: latestVersion + 1,
    name: 'test only: fails half-way',
    up: (d: typeof db) => {
      d.exec(`CREATE TABLE half_done (id INTEGER)`);
      throw new Error('boom');
    },
  };
  migrations.push(failing);
  try {
    assert.throws(() => migrate(db), /boom/);
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion);
    assert.equal(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'half_done'`).get(), undefined);
  } finally {
    migrations.pop();
    db.close();
  }
});

test('the grid queries use the images indexes (EXPLAIN QUERY PLAN)', () => {
  const db = openDatabase(join(tempDir(), 'project.db'));
  try {
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan(`SELECT id FROM images i ORDER BY i.name, i.id LIMIT 200`), /images_by_name/);
    assert.match(plan(`SELECT id FROM images i WHERE i.class_id = 1 ORDER BY i.name, i.id LIMIT 200`), /images_by_class/);
    assert.match(plan(`SELECT id FROM images WHERE sha256 = 'x'`), /images_by_sha/);
    assert.match(plan(`SELECT id FROM images WHERE root_id = 1 AND rel_path = 'a'`), /sqlite_autoindex_images/);
  } finally {
    db.close();
  }
});

test('migration 10: evaluations and their predictions survive the rebuild; an evaluation belongs to a run or an external model, not both', () => {
  const file = join(tempDir(), 'project.db');
  const db = new BetterSqlite3(file);
  try {
    // Foreign keys on, as every Loupe connection has them: a DROP that cascaded would empty predictions.
    db.pragma('foreign_keys = ON');
    for (const m of migrations.filter((x) => x.version < 10)) m.up(db);
    db.pragma('user_version = 9');
    db.prepare(`INSERT INTO runs (id, name, status, config, classes, app_version, created_at) VALUES (1, 'r', 'finished', '{}', '["a","b"]', '0', 'now')`).run();
    db.prepare(`INSERT INTO evaluations (id, run_id, split, model_sha256, created_at, n, metrics) VALUES (5, 1, 'val', 'abc', 'now', 1, '{}')`).run();
    db.prepare(`INSERT INTO predictions VALUES (5, 7, 0, 1, 0.6, 0.2, 0.5, 0.4, x'00')`).run();
    migrate(db);
    assert.deepEqual({ ...(db.prepare('SELECT id, run_id, external_model_id, split, n FROM evaluations').get() as object) }, { id: 5, run_id: 1, external_model_id: null, split: 'val', n: 1 });
    assert.deepEqual({ ...(db.prepare('SELECT evaluation_id, image_id, predicted FROM predictions').get() as object) }, { evaluation_id: 5, image_id: 7, predicted: 1 });
    assert.equal((db.pragma('foreign_key_check') as unknown[]).length, 0);
    db.prepare(`INSERT INTO external_models (id, file_name, sha256, format, classes, preprocess, image_size, channels, created_at) VALUES (1, 'm.onnx', 'f00', 'onnx', '["a"]', 'unit', 8, 3, 'now')`).run();
    db.prepare(`INSERT INTO evaluations (id, external_model_id, split, model_sha256, created_at, n) VALUES (6, 1, 'test', 'f00', 'now', 0)`).run();
    assert.throws(() => db.prepare(`INSERT INTO evaluations (run_id, external_model_id, split, model_sha256, created_at, n) VALUES (1, 1, 'test', 'x', 'now', 0)`).run(), /CHECK/);
    assert.throws(() => db.prepare(`INSERT INTO evaluations (split, model_sha256, created_at, n) VALUES ('test', 'x', 'now', 0)`).run(), /CHECK/);
    // The predictions still follow their evaluation: deleting the run removes its evaluation and predictions.
    db.prepare('DELETE FROM runs WHERE id = 1').run();
    assert.equal(db.prepare('SELECT COUNT(*) FROM predictions').pluck().get(), 0);
    assert.deepEqual(db.prepare('SELECT id FROM evaluations').pluck().all(), [6]);
  } finally {
    db.close();
  }
});
