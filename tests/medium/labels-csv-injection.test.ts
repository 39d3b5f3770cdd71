// A class named like a formula (found: `=1+1` exported as a live spreadsheet formula) is written guarded in the
// labels CSV and comes back as the same class when the CSV is imported again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportLabelsCsv, importLabelsCsv } from '../../electron/core/labels/labels-csv.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a class named =1+1 is exported as text, not a formula, and re-imports as the same class', () => {
  const { project, classIds } = seedProject(tempDir(), { perClass: [2, 2], path: (c, i) => (c === 0 ? `-x/@img${i}.png` : `c${c}/img${i}.png`) });
  const db = project.db;
  try {
    db.prepare('UPDATE classes SET name = ? WHERE id = ?').run('=1+1', classIds[0]!);
    const { csv } = exportLabelsCsv(db);
    const cells = csv.trim().split('\n').slice(1).flatMap((l) => l.split(','));
    assert.ok(cells.includes("'=1+1"), csv);
    assert.ok(cells.includes("'-x/@img0.png"), 'a path starting with - is guarded too');
    assert.ok(!cells.some((c) => /^[=+\-@]/.test(c)), `no cell starts a formula:\n${csv}`);
    // Unlabel everything, then import the exported CSV: the labels come back on the same classes.
    db.prepare('UPDATE images SET class_id = NULL').run();
    const report = importLabelsCsv(db, csv, false);
    assert.deepEqual(report.unknownClasses, []);
    assert.deepEqual(report.unknownPaths, []);
    assert.equal(db.prepare('SELECT COUNT(*) FROM images WHERE class_id = ?').pluck().get(classIds[0]!), 2);
  } finally {
    project.close();
  }
});
