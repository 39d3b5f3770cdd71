// Bulk column writes on a real project.db: indexes rebuilt around a large change come back identical, a failed
// write brings them back with the data, and a small change leaves them alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexesOn, writeColumn } from '../../electron/core/db/bulk-write.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

const schema = (db: import('../../electron/core/db/database.ts').Database) =>
  db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name`).all();

test('the split indexes are found by column and rebuilt around a write that changes most rows', () => {
  const { project } = seedProject(tempDir(), { perClass: [400, 400] });
  const db = project.db;
  assert.deepEqual(
    indexesOn(db, 'images', 'split').map((i) => i.name),
    ['images_by_split', 'images_by_split_mtime', 'images_by_split_size'],
  );
  const before = schema(db);
  let inside: string[] = [];
  db.transaction(() =>
    writeColumn(db, { table: 'images', column: 'split', changing: 800, total: 800 }, () => {
      inside = indexesOn(db, 'images', 'split').map((i) => i.name);
      db.prepare(`UPDATE images SET split = CASE WHEN id % 4 = 0 THEN 'test' ELSE 'train' END`).run();
    }),
  )();
  assert.deepEqual(inside, [], 'dropped during the write');
  assert.deepEqual(schema(db), before);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  // The rebuilt index answers queries: the planner uses it and the count matches the table.
  const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM images WHERE split = 'test' ORDER BY size, id`).all() as { detail: string }[];
  assert.ok(plan.some((p) => /images_by_split_size/.test(p.detail)), JSON.stringify(plan));
  assert.equal(db.prepare(`SELECT COUNT(*) FROM images WHERE split = 'test'`).pluck().get(), 200);
  project.close();
});

test('a failing bulk write rolls back the data and the dropped indexes; a small write keeps them', () => {
  const { project } = seedProject(tempDir(), { perClass: [300] });
  const db = project.db;
  const before = schema(db);
  assert.throws(() =>
    db.transaction(() =>
      writeColumn(db, { table: 'images', column: 'split', changing: 300, total: 300 }, () => {
        db.prepare(`UPDATE images SET split = 'val'`).run();
        throw new Error('disk full');
      }),
    )(),
  /disk full/);
  assert.deepEqual(schema(db), before);
  assert.equal(db.prepare(`SELECT COUNT(*) FROM images WHERE split IS NOT NULL`).pluck().get(), 0);
  let during: string[] = [];
  db.transaction(() =>
    writeColumn(db, { table: 'images', column: 'split', changing: 10, total: 300 }, () => {
      during = indexesOn(db, 'images', 'split').map((i) => i.name);
    }),
  )();
  assert.equal(during.length, 3, 'a change to 10 of 300 rows updates the indexes in place');
  assert.throws(() => writeColumn(db, { table: 'images', column: 'split', changing: 1, total: 1 }, () => 0), /inside a transaction/);
  project.close();
});
