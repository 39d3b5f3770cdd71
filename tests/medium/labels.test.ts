// Labeling on a real project.db: undo/redo (bulk included) surviving a reopen, history, flags, classes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

async function coreFor(dir: string) {
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'));
  return core;
}

function labelOf(core: LoupeCore, id: number): number | null {
  return core.requireProject().db.prepare('SELECT class_id FROM images WHERE id = ?').pluck().get(id) as number | null;
}

test('label, bulk label, undo and redo survive closing and reopening the project', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [0, 0], unlabeled: 300 });
  project.close();
  let core = await coreFor(dir);
  const [a, b] = classIds as [number, number];
  let r = await core.dispatch('labels:set', { imageIds: [imageIds[0]!], classId: a });
  assert.equal(r.changed, 1);
  assert.equal(r.edit.undoLabel, 'Label c0');
  r = await core.dispatch('labels:set', { imageIds: imageIds.slice(0, 200), classId: b });
  assert.equal(r.changed, 200);
  assert.equal(labelOf(core, imageIds[0]!), b);
  await core.shutdown();

  core = await coreFor(dir);
  assert.equal((await core.dispatch('edits:state', {})).undoLabel, 'Label c1 (200)');
  r = await core.dispatch('labels:undo', {});
  assert.equal(r.changed, 200);
  assert.equal(labelOf(core, imageIds[0]!), a, 'the bulk undo restores the earlier single label');
  assert.equal(labelOf(core, imageIds[1]!), null);
  assert.ok(r.edit.canRedo);
  await core.shutdown();

  core = await coreFor(dir);
  r = await core.dispatch('labels:redo', {});
  assert.equal(r.changed, 200);
  assert.equal(labelOf(core, imageIds[150]!), b);
  await core.dispatch('labels:undo', {});
  await core.dispatch('labels:undo', {});
  assert.equal(labelOf(core, imageIds[0]!), null);
  assert.equal((await core.dispatch('edits:state', {})).canUndo, false);
  // A new action after undo ends the redo branch.
  await core.dispatch('labels:set', { imageIds: [imageIds[5]!], classId: a });
  assert.equal((await core.dispatch('edits:state', {})).canRedo, false);
  await core.shutdown();
});

test('history records every change with user and time, undo included', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [0, 0], unlabeled: 3 });
  project.close();
  const core = await coreFor(dir);
  const id = imageIds[0]!;
  await core.dispatch('labels:set', { imageIds: [id], classId: classIds[0]! });
  await core.dispatch('labels:set', { imageIds: [id], classId: classIds[1]! });
  await core.dispatch('labels:undo', {});
  const h = await core.dispatch('images:history', { id });
  assert.deepEqual(
    h.map((e) => [e.action, e.oldClass, e.newClass]),
    [
      ['undo', 'c1', 'c0'],
      ['label', 'c0', 'c1'],
      ['label', null, 'c0'],
    ],
  );
  assert.ok(h.every((e) => e.user.length > 0 && !Number.isNaN(Date.parse(e.at))));
  // Renaming the class later does not rewrite what history says happened.
  await core.dispatch('classes:update', { id: classIds[0]!, name: 'normal' });
  assert.equal((await core.dispatch('images:history', { id }))[2]!.newClass, 'c0');
  await core.shutdown();
});

test('bad labeling input is refused and nothing changes', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [2], unlabeled: 2 });
  project.db.prepare(`UPDATE images SET status = 'missing' WHERE id = ?`).run(imageIds[3]!);
  project.close();
  const core = await coreFor(dir);
  const before = core.requireProject().db.prepare('SELECT id, class_id FROM images ORDER BY id').all();
  await assert.rejects(core.dispatch('labels:set', { imageIds: [imageIds[2]!, imageIds[3]!], classId: classIds[0]! }), /missing on disk/);
  await assert.rejects(core.dispatch('labels:set', { imageIds: [imageIds[2]!, 999999], classId: classIds[0]! }), /No image with id 999999/);
  await assert.rejects(core.dispatch('labels:set', { imageIds: [imageIds[2]!], classId: 4242 }), /No class/);
  await assert.rejects(core.dispatch('labels:set', { imageIds: [], classId: classIds[0]! }), (e: any) => e.code === 'VALIDATION');
  await assert.rejects(core.dispatch('classes:create', { name: '   ' }), /cannot be empty/);
  await assert.rejects(core.dispatch('classes:create', { name: 'x'.repeat(65) }), /at most 64/);
  await assert.rejects(core.dispatch('classes:create', { name: 'C0' }), /already exists/);
  assert.deepEqual(core.requireProject().db.prepare('SELECT id, class_id FROM images ORDER BY id').all(), before);
  assert.equal((await core.dispatch('edits:state', {})).canUndo, false);
  // Clearing the label of a missing image is allowed (it frees the file from training).
  const r = await core.dispatch('labels:set', { imageIds: [imageIds[3]!], classId: null });
  assert.equal(r.changed, 0);
  await core.shutdown();
});

test('flags and notes are undoable and filterable', async () => {
  const dir = tempDir();
  const { project, imageIds } = seedProject(dir, { perClass: [5] });
  project.close();
  const core = await coreFor(dir);
  await core.dispatch('images:setFlags', { imageIds: imageIds.slice(0, 2), excluded: true });
  await core.dispatch('images:setFlags', { imageIds: [imageIds[4]!], unsure: true, note: '  check with radiologist ' });
  assert.equal((await core.dispatch('images:query', { filter: { excluded: true } })).total, 2);
  const unsure = await core.dispatch('images:query', { filter: { unsure: true } });
  assert.deepEqual(unsure.items.map((i) => i.id), [imageIds[4]]);
  assert.equal((await core.dispatch('images:get', { id: imageIds[4]! })).userNote, 'check with radiologist');
  await core.dispatch('labels:undo', {});
  assert.equal((await core.dispatch('images:get', { id: imageIds[4]! })).userNote, null);
  assert.equal((await core.dispatch('images:query', { filter: { unsure: true } })).total, 0);
  await core.shutdown();
});

test('classes: rename, recolor, hotkeys, reorder, merge and delete keep labels and undo consistent', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [3, 2, 4] });
  project.close();
  const core = await coreFor(dir);
  const [c0, c1, c2] = classIds as [number, number, number];
  let classes = await core.dispatch('classes:list', {});
  assert.deepEqual(classes.map((c) => [c.name, c.hotkey, c.count]), [['c0', '1', 3], ['c1', '2', 2], ['c2', '3', 4]]);
  await core.dispatch('classes:update', { id: c2, hotkey: '1', color: '#AA0000' });
  classes = await core.dispatch('classes:list', {});
  assert.equal(classes.find((c) => c.id === c2)!.hotkey, '1');
  assert.equal(classes.find((c) => c.id === c2)!.color, '#aa0000');
  assert.notEqual(classes.find((c) => c.id === c0)!.hotkey, '1', 'a key is never given twice');
  classes = await core.dispatch('classes:reorder', { ids: [c2, c0, c1] });
  assert.deepEqual(classes.map((c) => c.name), ['c2', 'c0', 'c1']);
  await assert.rejects(core.dispatch('classes:reorder', { ids: [c2, c0] }), /every class/);

  // An undoable relabel c1 -> c0 of one image, then merge c0 into c2: undo must not resurrect c0.
  await core.dispatch('labels:set', { imageIds: [imageIds[3]!], classId: c0 });
  const merged = await core.dispatch('classes:merge', { sourceId: c0, targetId: c2 });
  assert.equal(merged.moved, 4);
  assert.equal((await core.dispatch('images:query', { filter: { classId: c2 } })).total, 8);
  await core.dispatch('labels:undo', {});
  assert.equal(labelOf(core, imageIds[3]!), c1);
  await core.dispatch('labels:redo', {});
  assert.equal(labelOf(core, imageIds[3]!), c2, 'the redo lands on the merge target');
  const hist = await core.dispatch('images:history', { id: imageIds[0]! });
  assert.equal(hist[0]!.action, 'merge "c0"');

  await assert.rejects(core.dispatch('classes:delete', { id: c1, labeledImages: 'move' }), /which class/);
  const del = await core.dispatch('classes:delete', { id: c1, labeledImages: 'unlabel' });
  assert.deepEqual(del, { unlabeled: 1, moved: 0 });
  assert.equal((await core.dispatch('images:query', { filter: { unlabeled: true } })).total, 1);
  assert.deepEqual((await core.dispatch('classes:list', {})).map((c) => [c.name, c.position]), [['c2', 0]]);
  await core.shutdown();
});

test('bulk-labeling 10,000 images is one transaction and one undo step', async () => {
  const dir = tempDir();
  const { project, classIds, imageIds } = seedProject(dir, { perClass: [0], unlabeled: 10_000 });
  project.close();
  const core = await coreFor(dir);
  const r = await core.dispatch('labels:set', { imageIds, classId: classIds[0]! });
  assert.equal(r.changed, 10_000);
  assert.equal((await core.dispatch('classes:list', {}))[0]!.count, 10_000);
  const u = await core.dispatch('labels:undo', {});
  assert.equal(u.changed, 10_000);
  assert.equal((await core.dispatch('classes:list', {}))[0]!.count, 0);
  await core.shutdown();
});

test('select all in filter returns every id in grid order', async () => {
  const dir = tempDir();
  const { project, classIds } = seedProject(dir, { perClass: [30, 20] });
  project.close();
  const core = await coreFor(dir);
  const { ids } = await core.dispatch('images:ids', { filter: { classId: classIds[1]! } });
  const page = await core.dispatch('images:query', { filter: { classId: classIds[1]! }, limit: 1000 });
  assert.deepEqual(ids, page.items.map((i) => i.id));
  assert.equal(ids.length, 20);
  await core.shutdown();
});
