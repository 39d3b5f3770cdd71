// A project folder opened by double-click is someone else's file (issue 14): its project.db cannot run functions
// with side effects from views or triggers it carries (trusted_schema off), and the settings Loupe reads from it
// are bounded: the decompression-bomb guard can be lowered, never switched off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Project } from '../../electron/core/project/project.ts';
import { MAX_LIMIT_INPUT_PIXELS, pixelLimit } from '../../electron/core/project/settings.ts';
import { splitSummary } from '../../electron/core/splits/splits.ts';
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../../electron/core/import/probe.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a view planted in project.db cannot call an application function (trusted_schema is off)', () => {
  const dir = tempDir();
  Project.create(join(dir, 'p')).close();
  const planted = new BetterSqlite3(join(dir, 'p', 'project.db'));
  planted.exec(`CREATE VIEW planted AS SELECT side_effect() AS x`);
  planted.close();
  const project = Project.open(join(dir, 'p'));
  try {
    assert.equal(project.db.pragma('trusted_schema', { simple: true }), 0);
    let calls = 0;
    project.db.function('side_effect', () => ++calls);
    assert.throws(() => project.db.prepare('SELECT x FROM planted').all(), /unsafe use of side_effect/);
    assert.equal(calls, 0);
    // Loupe's own triggers (the FTS5 path index) still work with the schema untrusted.
    project.db.prepare(`INSERT INTO roots (path, added_at) VALUES ('/r', 'now')`).run();
    project.db
      .prepare(`INSERT INTO images (root_id, rel_path, name, size, mtime_ms, status, imported_at) VALUES (1, 'a/findme.png', 'findme.png', 1, 1, 'ok', 'now')`)
      .run();
    assert.equal(project.db.prepare(`SELECT COUNT(*) FROM images_path_fts WHERE images_path_fts MATCH '"findme"'`).pluck().get(), 1);
  } finally {
    project.close();
  }
});

test('the pixel limit from a project file is bounded: it cannot be switched off or raised past the ceiling', () => {
  const dir = tempDir();
  const project = Project.create(join(dir, 'p'));
  const set = (v: string) => project.db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('limit_input_pixels', ?)`).run(v);
  try {
    for (const [value, want] of [
      ['10000', 10_000],
      ['1e300', MAX_LIMIT_INPUT_PIXELS],
      ['Infinity', DEFAULT_LIMIT_INPUT_PIXELS],
      ['0', DEFAULT_LIMIT_INPUT_PIXELS],
      ['0.5', DEFAULT_LIMIT_INPUT_PIXELS],
      ['-1', DEFAULT_LIMIT_INPUT_PIXELS],
      ['off', DEFAULT_LIMIT_INPUT_PIXELS],
    ] as const) {
      set(value);
      assert.equal(pixelLimit(project), want, value);
    }
  } finally {
    project.close();
  }
});

test('a project file claiming ten billion folds is not believed: the split summary answers at once, without folds', () => {
  const dir = tempDir();
  const project = Project.create(join(dir, 'p'));
  try {
    project.db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('folds_k', '10000000000')`).run();
    const started = performance.now();
    const summary = splitSummary(project.db);
    assert.equal(summary.folds, null);
    assert.deepEqual(summary.foldCounts, []);
    assert.ok(performance.now() - started < 5000);
    project.db.prepare(`UPDATE meta SET value = '5' WHERE key = 'folds_k'`).run();
    assert.equal(splitSummary(project.db).foldCounts.length, 5);
  } finally {
    project.close();
  }
});
