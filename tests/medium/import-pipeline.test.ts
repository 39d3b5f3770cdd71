/** Import on real files and a real project.db: formats and metadata, labels and splits from folders, duplicates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runImport } from '../../electron/core/import/importer.ts';
import { thumbPath } from '../../electron/core/import/thumbnails.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext, row, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

test('every supported format imports with its metadata and a thumbnail', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'rgb.png': await img.png({ width: 40, height: 30, channels: 3, seed: 1 }),
    'grey.png': await img.png({ width: 20, height: 10, channels: 1, seed: 2 }),
    'rgba.png': await img.png({ channels: 4, seed: 3 }),
    'palette.png': await img.palettePng({ seed: 4 }),
    'photo.JPG': await img.jpeg({ seed: 5 }),
    'pic.webp': await img.webp({ seed: 6 }),
    'scan.tif': await img.tiff8({ seed: 7 }),
    'anim.gif': await img.animatedGif(3, { seed: 8 }),
    'pages.tiff': await img.multiPageTiff(4, { seed: 9 }),
    'deep.png': await img.png16({ width: 50, height: 20, min: 1000, max: 5000 }),
    'deep-rgb.png': await img.png16({ channels: 3, min: 300, max: 900 }),
    'deep.tif': await img.tiff16({ min: 200, max: 4000 }),
    'rotated.jpg': await img.jpeg({ width: 60, height: 20, orientation: 6, seed: 10 }),
    'png-named.jpg': await img.png({ seed: 11 }),
    'noextension': await img.png({ seed: 12 }),
    'notes.txt': 'not considered',
  });
  const p = newProject(dir);
  const ctx = recordingContext();
  const report = await runImport(p, [src], 'none', ctx);
  assert.equal(report.failed, 0, JSON.stringify(report.errors));
  assert.equal(report.added, 15);
  assert.equal(report.ignored, 1);

  const rgb = row(p, 'rgb.png');
  assert.deepEqual([rgb.width, rgb.height, rgb.channels, rgb.bit_depth, rgb.format], [40, 30, 3, 8, 'png']);
  assert.match(rgb.sha256!, /^[0-9a-f]{64}$/);
  assert.equal(rgb.status, 'ok');
  assert.deepEqual([row(p, 'grey.png').channels, row(p, 'grey.png').width], [1, 20]);
  assert.equal(row(p, 'rgba.png').channels, 4);
  assert.equal(row(p, 'photo.JPG').format, 'jpeg');
  assert.equal(row(p, 'pic.webp').format, 'webp');
  assert.equal(row(p, 'scan.tif').format, 'tiff');

  const gif = row(p, 'anim.gif');
  assert.equal(gif.pages, 3);
  assert.match(gif.note!, /first frame/);
  const pages = row(p, 'pages.tiff');
  assert.equal(pages.pages, 4);
  assert.equal(pages.height, 30, 'the first page, not the pages stacked');
  assert.match(pages.note!, /multi-page TIFF with 4 pages/);

  const deep = row(p, 'deep.png');
  assert.deepEqual([deep.bit_depth, deep.channels, deep.min_value, deep.max_value], [16, 1, 1000, 5000]);
  const deepRgb = row(p, 'deep-rgb.png');
  assert.deepEqual([deepRgb.bit_depth, deepRgb.channels, deepRgb.min_value, deepRgb.max_value], [16, 3, 300, 900]);
  const deepTif = row(p, 'deep.tif');
  assert.deepEqual([deepTif.bit_depth, deepTif.format, deepTif.min_value, deepTif.max_value], [16, 'tiff', 200, 4000]);

  const rotated = row(p, 'rotated.jpg');
  assert.equal(rotated.orientation, 6);
  assert.deepEqual([rotated.width, rotated.height], [20, 60], 'dimensions as displayed (EXIF orientation applied)');
  assert.match(row(p, 'png-named.jpg').note!, /content is PNG/);
  assert.equal(row(p, 'png-named.jpg').format, 'png');
  assert.equal(row(p, 'noextension').format, 'png');

  // Thumbnails: WebP, ≤ 256 px, oriented; a 16-bit image stretched by its own range to the full 8-bit range. A plain
  // 8-bit grey or RGB PNG of at most 8 KiB is its own thumbnail, and served as a PNG.
  const bareThumbs = ['grey.png', 'noextension', 'png-named.jpg', 'rgb.png'];
  for (const r of rows(p)) {
    const file = thumbPath(p.thumbDir, r.sha256!);
    assert.ok(existsSync(file), `thumbnail of ${r.rel_path}`);
    const m = await sharp(file).metadata();
    assert.equal(m.format, bareThumbs.includes(r.rel_path) ? 'png' : 'webp', r.rel_path);
    assert.equal((await renderMedia(p, 'thumb', r.id)).contentType, `image/${m.format}`, r.rel_path);
    assert.ok(Math.max(m.width, m.height) <= 256);
  }
  const rotThumb = await sharp(thumbPath(p.thumbDir, rotated.sha256!)).metadata();
  assert.ok(rotThumb.height > rotThumb.width, 'thumbnail is rotated like the display');
  for (const r of [deep, deepTif]) {
    const stats = await sharp(thumbPath(p.thumbDir, r.sha256!)).stats();
    assert.ok(stats.channels[0]!.min <= 8, `dark end stretched to black (${r.rel_path}: ${stats.channels[0]!.min})`);
    assert.ok(stats.channels[0]!.max >= 247, `bright end stretched to white (${r.rel_path}: ${stats.channels[0]!.max})`);
  }

  // Progress: once per file, ending at total.
  const last = ctx.calls[ctx.calls.length - 1]!;
  assert.deepEqual([last.done, last.total], [15, 15]);
  assert.ok(ctx.calls.filter((c) => c.total === 15).length >= 15);
});

test('labels come from class folders; classes get distinct colours and positions in name order', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'cat/a.png': await img.png({ seed: 1 }),
    'cat/nested/b.png': await img.png({ seed: 2 }),
    'dog/c.jpg': await img.jpeg({ seed: 3 }),
    'Bird/d.png': await img.png({ seed: 4 }),
    'loose.png': await img.png({ seed: 5 }),
    'empty-class/readme.txt': 'no images',
  });
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(report.added, 5);
  assert.equal(row(p, 'cat/a.png').class_name, 'cat');
  assert.equal(row(p, 'cat/nested/b.png').class_name, 'cat');
  assert.equal(row(p, 'dog/c.jpg').class_name, 'dog');
  assert.equal(row(p, 'Bird/d.png').class_name, 'Bird');
  assert.equal(row(p, 'loose.png').class_id, null);
  const classes = p.db.prepare(`SELECT name, color, position FROM classes ORDER BY position`).all() as {
    name: string;
    color: string;
    position: number;
  }[];
  assert.deepEqual(
    classes.map((c) => [c.name, c.position]),
    [
      ['Bird', 0],
      ['cat', 1],
      ['dog', 2],
    ],
  );
  assert.equal(new Set(classes.map((c) => c.color)).size, 3);

  // A second root with a class that differs only in case joins the existing class.
  const more = join(dir, 'more');
  img.writeTree(more, { 'CAT/e.png': await img.png({ seed: 6 }), 'fish/f.png': await img.png({ seed: 7 }) });
  await runImport(p, [more], 'folders', recordingContext());
  const summary = summarizeProject(p);
  assert.deepEqual(
    summary.classes.map((c) => [c.name, c.count]),
    [
      ['Bird', 1],
      ['cat', 3],
      ['dog', 1],
      ['fish', 1],
    ],
  );
  assert.deepEqual(summary.roots, [src, more]);
});

test('train/val|valid|validation/test folders map to splits, any case', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'Train/cat/1.png': await img.png({ seed: 1 }),
    'Train/dog/2.png': await img.png({ seed: 2 }),
    'valid/cat/3.png': await img.png({ seed: 3 }),
    'VALIDATION/dog/4.png': await img.png({ seed: 4 }),
    'test/cat/5.png': await img.png({ seed: 5 }),
    'test/6.png': await img.png({ seed: 6 }),
    'extra/cat/7.png': await img.png({ seed: 7 }),
  });
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const got = Object.fromEntries(rows(p).map((r) => [r.rel_path, [r.split, r.class_name]]));
  assert.deepEqual(got, {
    'Train/cat/1.png': ['train', 'cat'],
    'Train/dog/2.png': ['train', 'dog'],
    'valid/cat/3.png': ['val', 'cat'],
    'VALIDATION/dog/4.png': ['val', 'dog'],
    'test/cat/5.png': ['test', 'cat'],
    'test/6.png': ['test', null],
    'extra/cat/7.png': [null, 'extra'],
  });
  const s = summarizeProject(p);
  assert.deepEqual(s.splits, { train: 2, val: 2, test: 2, unassigned: 1 });
});

test("labels 'none' imports without classes or splits", async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'train/cat/1.png': await img.png({ seed: 1 }) });
  const p = newProject(dir);
  await runImport(p, [src], 'none', recordingContext());
  assert.deepEqual([row(p, 'train/cat/1.png').class_id, row(p, 'train/cat/1.png').split], [null, null]);
  assert.equal((p.db.prepare(`SELECT COUNT(*) AS n FROM classes`).get() as { n: number }).n, 0);
});

test('exact duplicates share a hash and one thumbnail, and are listed together', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const same = await img.png({ seed: 42 });
  img.writeTree(src, {
    'a/one.png': same,
    'b/two.png': same,
    'c/three.png': same,
    'd/other.png': await img.png({ seed: 43 }),
  });
  const p = newProject(dir);
  await runImport(p, [src], 'folders', recordingContext());
  const shas = rows(p).map((r) => r.sha256);
  assert.equal(new Set(shas).size, 2);
  const s = summarizeProject(p);
  assert.equal(s.duplicates.length, 1);
  assert.deepEqual(
    s.duplicates[0]!.map((x) => x.slice(src.length + 1)).sort(),
    ['a/one.png', 'b/two.png', 'c/three.png'],
  );
  assert.ok(existsSync(thumbPath(p.thumbDir, row(p, 'a/one.png').sha256!)));
});

test('a missing root is a clear NOT_FOUND, and a root listed twice is imported once', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'a.png': await img.png({ seed: 1 }) });
  const p = newProject(dir);
  await assert.rejects(runImport(p, [join(dir, 'nope')], 'none', recordingContext()), {
    code: 'NOT_FOUND',
    message: /Folder not found/,
  });
  const report = await runImport(p, [src, `${src}/`, join(src, '.')], 'none', recordingContext());
  assert.deepEqual([report.added, report.unchanged], [1, 0]);
  assert.deepEqual(summarizeProject(p).roots, [src]);
});

test('new rows get their ids in scan order, whichever file finishes decoding first', async () => {
  // Large files first: the small ones after them finish sooner, so an import that committed rows as they finished
  // would number them out of order, and two imports of this folder would number them differently.
  const dir = tempDir();
  const src = join(dir, 'src');
  const tree: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) tree[`a/big-${i}.png`] = await img.png({ width: 1600, height: 1600, seed: i });
  for (let i = 0; i < 12; i++) tree[`b/small-${String(i).padStart(2, '0')}.png`] = await img.png({ seed: 100 + i });
  img.writeTree(src, tree);
  const idsInPathOrder = async (name: string) => {
    const p = newProject(join(dir, name));
    await runImport(p, [src], 'folders', recordingContext(), undefined, { concurrency: 4, batchSize: 5 });
    return p.db.prepare('SELECT rel_path, id FROM images ORDER BY rel_path').all() as { rel_path: string; id: number }[];
  };
  const first = await idsInPathOrder('one');
  assert.deepEqual(first.map((r) => r.id), [...first.map((r) => r.id)].sort((a, b) => a - b));
  assert.deepEqual(await idsInPathOrder('two'), first);
});

test('a slow file holds back at most the commit window: the others wait for it instead of piling up in memory', async () => {
  // One large file first in scan order, many small ones after: without a window the small ones all finish (and
  // wait in memory, uncommitted) while the large one decodes.
  const dir = tempDir();
  const src = join(dir, 'src');
  const tree: Record<string, Buffer> = { 'a-big.png': await img.png({ width: 3000, height: 3000, seed: 1 }) };
  for (let i = 0; i < 40; i++) tree[`b-small-${String(i).padStart(2, '0')}.png`] = await img.png({ seed: 10 + i });
  img.writeTree(src, tree);
  const p = newProject(join(dir, 'p'));
  const ctx = recordingContext();
  const report = await runImport(p, [src], 'none', ctx, undefined, { concurrency: 2, batchSize: 5, commitWindow: 4 });
  assert.equal(report.added, 41);
  const finishedFiles = ctx.calls.map((c) => c.message).filter((m) => m?.endsWith('.png'));
  // Taken while a-big.png is in flight: the three files after it, then every worker waits for it.
  assert.ok(finishedFiles.indexOf('a-big.png') <= 3, `a-big.png finished ${finishedFiles.indexOf('a-big.png') + 1}th`);
  const ids = p.db.prepare('SELECT id FROM images ORDER BY rel_path').all() as { id: number }[];
  assert.deepEqual(ids.map((r) => r.id), [...ids.map((r) => r.id)].sort((a, b) => a - b));
});
