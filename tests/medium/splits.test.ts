// Splits, folds, group keys and the labels CSV on a real project.db.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { adoptFolderSplits } from '../../electron/core/splits/splits.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

function open(dir: string) {
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'));
  return core;
}
function splits(core: LoupeCore) {
  return new Map(
    (core.requireProject().db.prepare('SELECT id, split FROM images').all() as { id: number; split: string | null }[]).map((r) => [r.id, r.split]),
  );
}

test('stratified split by ratios is deterministic per seed and reported per class', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [100, 40, 60] }).project.close();
  const core = open(dir);
  const s = await core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 5 });
  assert.deepEqual(s.totals, { train: 140, val: 30, test: 30, unassigned: 0, total: 200 });
  assert.deepEqual(s.rows.map((r) => [r.name, r.train, r.val, r.test]), [['c0', 70, 15, 15], ['c1', 28, 6, 6], ['c2', 42, 9, 9]]);
  const first = splits(core);
  await core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 5 });
  assert.deepEqual(splits(core), first);
  await core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 6 });
  assert.notDeepEqual(splits(core), first);
  await core.shutdown();
});

test('group split by filename regex keeps each patient in one split; leakage is warned about', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [120, 80], path: (c, i) => `c${c}/P${c}${String(Math.floor(i / 4)).padStart(3, '0')}_${i % 4}.png` }).project.close();
  const core = open(dir);
  const preview = await core.dispatch('groups:preview', { groupBy: { kind: 'regex', pattern: '^(P\\d+)_' } });
  assert.equal(preview.matched, 200);
  assert.equal(preview.groups, 50);
  const s = await core.dispatch('splits:assign', { ratios: [0.6, 0.2, 0.2], seed: 1, groupBy: { kind: 'regex', pattern: '^(P\\d+)_' } });
  assert.equal(s.groups, 50);
  // The summary a split returns is counted from the rows it wrote; the table says the same.
  assert.deepEqual(s, await core.dispatch('splits:summary', {}));
  assert.ok(!s.warnings.some((w) => w.kind === 'group-across-splits'));
  const db = core.requireProject().db;
  const spans = db.prepare('SELECT group_key, COUNT(DISTINCT split) AS n FROM images GROUP BY group_key').all() as { n: number }[];
  assert.ok(spans.every((g) => g.n === 1));
  // Move one image of a patient into another split by hand: the summary now warns about that patient.
  const one = db.prepare(`SELECT id, split, group_key FROM images WHERE split = 'train' LIMIT 1`).get() as { id: number; group_key: string };
  await core.dispatch('splits:move', { imageIds: [one.id], split: 'val' });
  const after = await core.dispatch('splits:summary', {});
  const leak = after.warnings.find((w) => w.kind === 'group-across-splits');
  assert.ok(leak);
  assert.deepEqual(leak.items, [one.group_key]);
  await core.dispatch('labels:undo', {});
  assert.ok(!(await core.dispatch('splits:summary', {})).warnings.some((w) => w.kind === 'group-across-splits'));
  await core.shutdown();
});

test('the group preview shows files of different groups, then files the rule finds no group in', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [40], unlabeled: 5, path: (c, i) => `c${c}/P${String(Math.floor(i / 4)).padStart(3, '0')}_${i % 4}.png` }).project.close();
  const core = open(dir);
  const p = await core.dispatch('groups:preview', { groupBy: { kind: 'regex', pattern: '^(P\\d+)_' } });
  assert.deepEqual([p.matched, p.unmatched, p.groups], [40, 5, 10]);
  const grouped = p.examples.filter((e) => e.group !== null);
  assert.equal(grouped.length, 6);
  assert.equal(new Set(grouped.map((e) => e.group)).size, 6, 'one file per group');
  assert.deepEqual(p.examples.slice(6).map((e) => e.group), [null, null], 'then two files without a group');
  assert.ok(p.examples.slice(6).every((e) => e.path.startsWith('unlabeled/')));
  await core.shutdown();
});

test('a locked test set never moves; re-splitting divides only the rest', async () => {
  const dir = tempDir();
  const { project } = seedProject(dir, { perClass: [50, 50] });
  // As if imported from train/ and test/ folders.
  project.db.prepare(`UPDATE images SET split = CASE WHEN id % 5 = 0 THEN 'test' ELSE 'train' END`).run();
  adoptFolderSplits(project.db);
  project.close();
  const core = open(dir);
  let s = await core.dispatch('splits:summary', {});
  assert.equal(s.testLocked, true, 'a test split from a folder is locked from the start');
  const testIds = [...splits(core)].filter(([, v]) => v === 'test').map(([k]) => k).sort();
  await assert.rejects(core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 1 }), /locked/);
  s = await core.dispatch('splits:assign', { ratios: [0.8, 0.2, 0], seed: 1 });
  assert.equal(s.totals.test, 20);
  assert.equal(s.totals.val, 16);
  assert.deepEqual([...splits(core)].filter(([, v]) => v === 'test').map(([k]) => k).sort(), testIds);
  await assert.rejects(core.dispatch('splits:move', { imageIds: [testIds[0]!], split: 'train' }), /locked/);
  const notTest = [...splits(core)].find(([, v]) => v !== 'test')![0];
  await assert.rejects(core.dispatch('splits:move', { imageIds: [notTest], split: 'test' }), /locked/);
  await core.dispatch('splits:lockTest', { locked: false });
  await core.dispatch('splits:move', { imageIds: [notTest], split: 'test' });
  await core.shutdown();
});

test('a patient split across a locked test set and the rest is reported by the re-split itself', async () => {
  const dir = tempDir();
  const { project } = seedProject(dir, { perClass: [60, 60], path: (c, i) => `c${c}/P${c}${String(Math.floor(i / 3)).padStart(3, '0')}_${i % 3}.png` });
  // Folder splits that cut through patients: the third image of every patient is in test.
  project.db.prepare(`UPDATE images SET split = CASE WHEN rel_path LIKE '%\\_2.png' ESCAPE '\\' THEN 'test' ELSE 'train' END`).run();
  adoptFolderSplits(project.db);
  project.close();
  const core = open(dir);
  const s = await core.dispatch('splits:assign', { ratios: [0.75, 0.25, 0], seed: 3, groupBy: { kind: 'regex', pattern: '^(P\\d+)_' } });
  const leak = s.warnings.find((w) => w.kind === 'group-across-splits');
  assert.ok(leak, 'every patient has images on both sides of the locked test set');
  assert.match(leak.message, /^40 groups are found in more than one split/);
  assert.deepEqual(s, await core.dispatch('splits:summary', {}));
  await core.shutdown();
});

test('bad split requests are refused with a reason and nothing changes', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [40, 2] }).project.close();
  const core = open(dir);
  await core.dispatch('splits:assign', { seed: 3, ratios: [0.5, 0.5, 0] });
  const before = splits(core);
  await assert.rejects(core.dispatch('splits:assign', { ratios: [0.7, 0.2, 0.2], seed: 1 }), /sum to 1/);
  await assert.rejects(core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 1 }), /"c1" \(2 images\) gets none/);
  await assert.rejects(core.dispatch('splits:assign', { seed: 1, groupBy: { kind: 'regex', pattern: '([' } }), /does not compile/);
  await assert.rejects(core.dispatch('splits:assign', { seed: 1, groupBy: { kind: 'regex', pattern: '^zzz' } }), /matches no file name/);
  await assert.rejects(core.dispatch('splits:assign', { seed: 1, groupBy: { kind: 'csv' } }), /CSV/);
  await assert.rejects(core.dispatch('splits:folds', { k: 11, seed: 1 }), (e: any) => e.code === 'VALIDATION');
  assert.deepEqual(splits(core), before);
  await core.shutdown();
});

test('k-fold assignment covers every non-test image once, balanced, and is cleared by a re-split', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [53, 27] }).project.close();
  const core = open(dir);
  await core.dispatch('splits:assign', { ratios: [0.8, 0.1, 0.1], seed: 2 });
  const s = await core.dispatch('splits:folds', { k: 5, seed: 2 });
  assert.equal(s.folds, 5);
  assert.equal(s.foldCounts.reduce((a, b) => a + b, 0), s.totals.train + s.totals.val);
  assert.ok(Math.max(...s.foldCounts) - Math.min(...s.foldCounts) <= 2, `${s.foldCounts}`);
  const testWithFold = core.requireProject().db.prepare(`SELECT COUNT(*) FROM images WHERE split = 'test' AND fold IS NOT NULL`).pluck().get();
  assert.equal(testWithFold, 0);
  const again = await core.dispatch('splits:assign', { ratios: [0.8, 0.1, 0.1], seed: 9 });
  assert.equal(again.folds, null);
  await core.shutdown();
});

test('k folds and a test share in one step: stratified, patients whole, the test set outside every fold (issue 17)', async () => {
  const dir = tempDir();
  seedProject(dir, { perClass: [60, 30], path: (c, i) => `c${c}/P${c}${String(Math.floor(i / 3)).padStart(3, '0')}_${i % 3}.png` }).project.close();
  const core = open(dir);
  const groupBy = { kind: 'regex' as const, pattern: '^(P\\d+)_' };
  const s = await core.dispatch('splits:folds', { k: 3, seed: 4, ratios: [0.7, 0.1, 0.2], groupBy });
  assert.equal(s.folds, 3);
  assert.equal(s.totals.unassigned, 0);
  assert.equal(s.foldCounts.reduce((a, b) => a + b, 0) + s.totals.test, 90, 'every image is in the test set or in one fold');
  // Stratified within one patient (3 images) of each class's 20%.
  for (const r of s.rows) assert.ok(Math.abs(r.test - r.total * 0.2) <= 3, `${r.name}: ${r.test} of ${r.total} in test`);
  const db = core.requireProject().db;
  const perGroup = db.prepare(`SELECT group_key, COUNT(DISTINCT COALESCE(fold, -1)) AS places, COUNT(DISTINCT split = 'test') AS sides FROM images GROUP BY group_key`).all() as { places: number; sides: number }[];
  assert.ok(perGroup.every((g) => g.places === 1 && g.sides === 1), 'a patient is whole in one fold or in the test set');
  assert.equal(db.prepare(`SELECT COUNT(*) FROM images WHERE split = 'test' AND fold IS NOT NULL`).pluck().get(), 0);
  const perFoldClass = db.prepare('SELECT class_id, fold, COUNT(*) AS n FROM images WHERE fold IS NOT NULL GROUP BY class_id, fold').all() as { n: number }[];
  assert.equal(perFoldClass.length, 6, 'every class in every fold');

  // A locked test set stays as it is; a test share is refused then, and the refusal changes nothing.
  await core.dispatch('splits:lockTest', { locked: true });
  const before = splits(core);
  await assert.rejects(core.dispatch('splits:folds', { k: 3, seed: 5, ratios: [0.7, 0.1, 0.2] }), /locked/);
  await assert.rejects(core.dispatch('splits:folds', { k: 40, seed: 5, ratios: [0.8, 0.2, 0] }), (e: { code?: string }) => e.code === 'VALIDATION');
  assert.deepEqual(splits(core), before);
  const locked = await core.dispatch('splits:folds', { k: 4, seed: 5, ratios: [0.8, 0.2, 0], groupBy });
  assert.equal(locked.totals.test, s.totals.test);
  assert.deepEqual([...splits(core)].filter(([, v]) => v === 'test'), [...before].filter(([, v]) => v === 'test'));
  assert.equal(locked.foldCounts.length, 4);
  // Folds that cannot be made undo the re-split that came with them.
  const beforeRefusal = splits(core);
  // (Two groups, one per class: the re-split to all-train succeeds, three folds cannot.)
  const twoGroups = { kind: 'regex' as const, pattern: '^(P\\d)' };
  await assert.rejects(core.dispatch('splits:folds', { k: 3, seed: 5, ratios: [1, 0, 0], groupBy: twoGroups }), /3 folds need at least 3 groups; there are 2/);
  assert.deepEqual(splits(core), beforeRefusal);
  assert.equal((await core.dispatch('splits:summary', {})).folds, 4);
  await core.shutdown();
});

test('small classes and duplicates across splits are warned about', async () => {
  const dir = tempDir();
  const { project, imageIds } = seedProject(dir, { perClass: [100, 12] });
  // Two files with identical content.
  project.db.prepare('UPDATE images SET sha256 = ? WHERE id IN (?, ?)').run('f'.repeat(64), imageIds[0]!, imageIds[1]!);
  project.close();
  const core = open(dir);
  await core.dispatch('splits:assign', { ratios: [0.7, 0.15, 0.15], seed: 4 });
  await core.dispatch('splits:lockTest', { locked: false });
  await core.dispatch('splits:move', { imageIds: [imageIds[0]!], split: 'train' });
  await core.dispatch('splits:move', { imageIds: [imageIds[1]!], split: 'test' });
  const s = await core.dispatch('splits:summary', {});
  const small = s.warnings.filter((w) => w.kind === 'small-class').map((w) => w.message);
  assert.ok(small.some((m) => /"c1" has 2 images in val/.test(m)), small.join('; '));
  assert.ok(s.warnings.some((w) => w.kind === 'duplicate-across-splits'));
  await core.shutdown();
});

test('labels CSV round trip; unknown paths reported; bad rows and unknown classes change nothing', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [3, 2], unlabeled: 2, path: (c, i) => `c${c}/a, "b" ${i}.png` });
  project.db.prepare(`UPDATE images SET split = 'train', group_key = 'P1' WHERE id = ?`).run(imageIds[0]!);
  project.close();
  const core = open(dir);
  const out = await core.dispatch('labels:exportCsv', {});
  assert.equal(out.rows, 7);
  assert.match(out.csv, /^path,label,split,group\n/);
  assert.ok(out.csv.includes('"c0/a, ""b"" 0.png",c0,train,P1'));

  // Clear everything, then import the export: the same labels, splits and groups come back.
  await core.dispatch('labels:set', { imageIds: imageIds.slice(0, 5), classId: null });
  const r = await core.dispatch('labels:importCsv', { csv: out.csv });
  assert.equal(r.applied, 5);
  assert.deepEqual(r.unknownPaths, []);
  assert.equal((await core.dispatch('labels:exportCsv', {})).csv, out.csv);
  assert.equal(r.edit.undoLabel, 'Import labels CSV (7 rows)');

  const before = (await core.dispatch('labels:exportCsv', {})).csv;
  const extra = 'path,label\nnot/there.png,c0\nunlabeled/u0.png,c1\n';
  const r2 = await core.dispatch('labels:importCsv', { csv: extra });
  assert.deepEqual(r2.unknownPaths, ['not/there.png']);
  assert.equal(r2.applied, 1);
  await core.dispatch('labels:undo', {});
  assert.equal((await core.dispatch('labels:exportCsv', {})).csv, before);

  await assert.rejects(core.dispatch('labels:importCsv', { csv: 'path,label\nunlabeled/u0.png,tumour\n' }), /unknown classes "tumour".*--create-classes/);
  await assert.rejects(core.dispatch('labels:importCsv', { csv: 'path,label,split\nunlabeled/u0.png,c0,holdout\n' }), /line 2: split "holdout"/);
  await assert.rejects(core.dispatch('labels:importCsv', { csv: 'file,label\nx,y\n' }), /"path" column/);
  await assert.rejects(core.dispatch('labels:importCsv', { csv: 'path,label\n"unclosed,c0\n' }), /malformed at line 2/);
  await assert.rejects(core.dispatch('labels:importCsv', { csv: 'path,label\nunlabeled/u0.png,c0\nunlabeled/u0.png,c1\n' }), /listed twice/);
  assert.equal((await core.dispatch('labels:exportCsv', {})).csv, before);
  assert.equal((await core.dispatch('classes:list', {})).length, 2);

  const created = await core.dispatch('labels:importCsv', { csv: 'path,label\nunlabeled/u0.png,Tumour\n', createClasses: true });
  assert.deepEqual(created.createdClasses, ['Tumour']);
  assert.equal((await core.dispatch('classes:list', {})).length, 3);
  void classIds;
  await core.shutdown();
});
