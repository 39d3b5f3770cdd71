/** The scan and the preview on real folder trees (no decoding). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { previewImport } from '../../electron/core/import/importer.ts';
import { walk, type WalkCounters, type WalkEntry } from '../../electron/core/import/walk.ts';
import * as img from '../fixtures/images.ts';
import { tempDir } from '../helpers/tmp.ts';

async function scan(root: string, exclude: string[] = []): Promise<{ entries: WalkEntry[]; counters: WalkCounters }> {
  const counters: WalkCounters = { ignored: 0 };
  const entries: WalkEntry[] = [];
  for await (const e of walk(root, { stat: true, exclude }, counters)) entries.push(e);
  return { entries, counters };
}

test('the scan is recursive, in name order, with sizes and mtimes', async () => {
  const root = tempDir();
  const png = await img.png();
  img.writeTree(root, { 'b/x/y/z/deep.png': png, 'a/1.PNG': png, 'a/2.jpeg': 'x', 'top.tif': 'y', 'c/skip.txt': 'z' });
  const { entries, counters } = await scan(root);
  assert.deepEqual(entries.map((e) => e.rel), ['top.tif', 'a/1.PNG', 'a/2.jpeg', 'b/x/y/z/deep.png']);
  const deep = entries[3]!;
  assert.deepEqual(deep.segments, ['b', 'x', 'y', 'z', 'deep.png']);
  assert.equal(deep.size, png.length);
  assert.ok(deep.mtimeMs > 0);
  assert.equal(deep.absPath, join(root, 'b/x/y/z/deep.png'));
  assert.equal(counters.ignored, 1);
});

test('two links to one folder scan it once; the project folder is excluded', async () => {
  const root = tempDir();
  img.writeTree(root, { 'real/a.png': 'x', 'project/cache/thumbs/ab/ab.webp': 'y' });
  symlinkSync(join(root, 'real'), join(root, 'link1'));
  const { entries, counters } = await scan(root, [join(root, 'project')]);
  assert.deepEqual(entries.map((e) => e.rel), ['link1/a.png']);
  assert.equal(counters.ignored, 2);
});

test('special files are never opened (a FIFO would block the import)', async (t) => {
  const root = tempDir();
  img.writeTree(root, { 'a.png': 'x' });
  if (spawnSync('mkfifo', [join(root, 'pipe.png')]).status !== 0) {
    t.skip('mkfifo is not available');
    return;
  }
  const { entries, counters } = await scan(root);
  assert.deepEqual(entries.map((e) => e.rel), ['a.png']);
  assert.equal(counters.ignored, 1);
});

test('preview detects class folders', async () => {
  const root = tempDir();
  img.writeTree(root, { 'dog/1.png': 'x', 'dog/2.png': 'x', 'cat/1.jpg': 'x', 'cat/notes.txt': 'x', '.hidden/3.png': 'x' });
  const p = await previewImport([root]);
  assert.equal(p.layout, 'classes');
  assert.equal(p.files, 3);
  assert.deepEqual(p.classes, [
    { name: 'cat', count: 1 },
    { name: 'dog', count: 2 },
  ]);
  assert.deepEqual(p.splits, { train: 0, val: 0, test: 0, unassigned: 3 });
});

test('preview detects split folders (any case) and counts per split', async () => {
  const root = tempDir();
  img.writeTree(root, {
    'TRAIN/dog/1.png': 'x',
    'train/cat/2.png': 'x',
    'Validation/dog/3.png': 'x',
    'test/cat/4.png': 'x',
    'test/cat/5.png': 'x',
  });
  const p = await previewImport([root]);
  assert.equal(p.layout, 'splits');
  assert.deepEqual(p.splits, { train: 2, val: 1, test: 2, unassigned: 0 });
  assert.deepEqual(p.classes, [
    { name: 'cat', count: 3 },
    { name: 'dog', count: 2 },
  ]);
});

test('preview of a flat folder, and of a missing one', async () => {
  const root = tempDir();
  img.writeTree(root, { '1.png': 'x', '2.webp': 'x' });
  const p = await previewImport([root]);
  assert.deepEqual([p.layout, p.files, p.classes.length], ['flat', 2, 0]);
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'file.bin'), 'x');
  await assert.rejects(previewImport([join(root, 'nope')]), /Folder not found/);
  await assert.rejects(previewImport([join(root, 'file.bin')]), /Folder not found/);
});
