/** renderMedia: thumb / image / raw bytes by image id, and the generated sample images. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeRaw } from '../../shared/transport.ts';
import { runImport } from '../../electron/core/import/importer.ts';
import { thumbPath } from '../../electron/core/import/thumbnails.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import { writeSampleImages, SAMPLE_CLASSES } from '../../electron/core/sample/sample-project.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext, row, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

test('thumb, image and raw for 8-bit, 16-bit, oriented and multi-page images', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'rgb.png': await img.png({ width: 300, height: 120, seed: 1 }),
    'photo.jpg': await img.jpeg({ width: 60, height: 20, orientation: 6, seed: 2 }),
    'deep.png': await img.png16({ width: 64, height: 32, min: 1000, max: 5000 }),
    'deep.tif': await img.tiff16({ width: 50, height: 40, min: 200, max: 4000 }),
    'pages.tif': await img.multiPageTiff(3, { width: 30, height: 20 }),
  });
  const p = newProject(dir);
  await runImport(p, [src], 'none', recordingContext());

  const rgb = row(p, 'rgb.png');
  const thumb = await renderMedia(p, 'thumb', rgb.id);
  assert.equal(thumb.contentType, 'image/webp');
  assert.deepEqual(await sharp(thumb.body).metadata().then((m) => [m.format, m.width, m.height]), ['webp', 256, 102]);
  const full = await renderMedia(p, 'image', rgb.id);
  assert.equal(full.contentType, 'image/png');
  assert.deepEqual(await sharp(full.body).metadata().then((m) => [m.width, m.height]), [300, 120]);
  const raw8 = decodeRaw(toArrayBuffer((await renderMedia(p, 'raw', rgb.id)).body));
  assert.deepEqual([raw8.width, raw8.height, raw8.channels, raw8.bitsPerSample], [300, 120, 3, 8]);
  assert.deepEqual([...raw8.data.subarray(0, 3)], [...img.pixels8({ width: 300, height: 120, seed: 1 }).subarray(0, 3)]);

  const photo = row(p, 'photo.jpg');
  const shown = await renderMedia(p, 'image', photo.id);
  assert.equal(shown.contentType, 'image/jpeg');
  assert.deepEqual(await sharp(shown.body).metadata().then((m) => [m.width, m.height]), [20, 60], 'EXIF orientation applied');

  // 16-bit: the display stretches the image's own range; raw keeps the 16-bit values.
  for (const [rel, min, max] of [['deep.png', 1000, 5000], ['deep.tif', 200, 4000]] as const) {
    const r = row(p, rel);
    const display = await renderMedia(p, 'image', r.id);
    const stats = await sharp(display.body).stats();
    assert.ok(stats.channels[0]!.min <= 1 && stats.channels[0]!.max >= 254, `${rel} stretched to 0..255`);
    const raw = decodeRaw(toArrayBuffer((await renderMedia(p, 'raw', r.id)).body));
    assert.equal(raw.bitsPerSample, 16);
    assert.equal(raw.channels, 1);
    assert.equal(raw.data[0], min);
    assert.equal(raw.data[raw.data.length - 1], max);
  }

  const pages = await renderMedia(p, 'image', row(p, 'pages.tif').id);
  assert.deepEqual(await sharp(pages.body).metadata().then((m) => [m.width, m.height]), [30, 20], 'first page only');

  // A lost thumbnail is regenerated from the file and cached again.
  const cached = thumbPath(p.thumbDir, rgb.sha256!);
  rmSync(cached);
  const again = await renderMedia(p, 'thumb', rgb.id);
  assert.ok(again.body.equals(thumb.body));
  assert.ok(readdirSync(join(p.thumbDir, rgb.sha256!.slice(0, 2))).includes(`${rgb.sha256}.webp`));
});

test('unknown ids, error images and missing files are clear errors', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'ok.png': await img.png({ seed: 1 }), 'bad.png': 'text' });
  const p = newProject(dir);
  await runImport(p, [src], 'none', recordingContext());
  await assert.rejects(renderMedia(p, 'thumb', 999_999), { code: 'NOT_FOUND', message: /No image with id 999999/ });
  await assert.rejects(renderMedia(p, 'image', row(p, 'bad.png').id), { code: 'BAD_INPUT', message: /not an image/ });
  const ok = row(p, 'ok.png');
  renameSync(join(src, 'ok.png'), join(dir, 'elsewhere.png'));
  await assert.rejects(renderMedia(p, 'image', ok.id), { code: 'NOT_FOUND', message: /the file is gone/ });
  await runImport(p, [src], 'none', recordingContext());
  await assert.rejects(renderMedia(p, 'raw', ok.id), { code: 'NOT_FOUND', message: /missing/ });
  // The cached thumbnail of a missing file is still served (a small PNG's is the PNG's own image chunks).
  const cached = await renderMedia(p, 'thumb', ok.id);
  assert.equal(cached.contentType, 'image/png');
  assert.equal((await sharp(cached.body).metadata()).format, 'png');
});

test('the sample generator writes deterministic radiographs in 8/16-bit PNG and 16-bit TIFF, and they import', async () => {
  const dir = tempDir();
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const signal = new AbortController().signal;
  const progress: number[] = [];
  await writeSampleImages(a, { perClass: 10, signal, progress: (done) => progress.push(done) });
  await writeSampleImages(b, { perClass: 10, signal, progress: () => {} });
  assert.equal(progress[progress.length - 1], 30);
  assert.deepEqual(readdirSync(a).sort(), [...SAMPLE_CLASSES].sort());
  const p = newProject(dir);
  const report = await runImport(p, [a, b], 'folders', recordingContext());
  assert.equal(report.failed, 0);
  const s = summarizeProject(p);
  assert.deepEqual(s.classes.map((c) => [c.name, c.count]).sort(), [['effusion', 20], ['normal', 20], ['pneumonia', 20]]);
  // Same seeds, same bytes: every image of run a has its twin in run b.
  assert.equal(s.duplicates.length, 30);
  const depths = new Map<string, number>();
  for (const r of rows(p)) depths.set(`${r.format}/${r.bit_depth}`, (depths.get(`${r.format}/${r.bit_depth}`) ?? 0) + 1);
  assert.ok(depths.get('png/8')! > 0 && depths.get('png/16')! > 0 && depths.get('tiff/16')! > 0, JSON.stringify([...depths]));
  // Classes differ visibly: effusion and pneumonia images are brighter in the lungs than normal ones on average.
  const mean = async (cls: string) => {
    const ids = rows(p).filter((r) => r.class_name === cls && r.bit_depth === 8).map((r) => r.id);
    let sum = 0;
    for (const id of ids) sum += (await sharp((await renderMedia(p, 'image', id)).body).stats()).channels[0]!.mean;
    return sum / ids.length;
  };
  const normal = await mean('normal');
  assert.ok((await mean('effusion')) > normal + 2, 'effusion adds fluid density');
  assert.ok((await mean('pneumonia')) > normal + 0.5, 'pneumonia adds opacities');
});

test('sample generation stops promptly when canceled', async () => {
  const dir = tempDir();
  const ctl = new AbortController();
  let seen = 0;
  await assert.rejects(
    writeSampleImages(dir, { perClass: 200, signal: ctl.signal, progress: (done) => { seen = done; if (done >= 5) ctl.abort(); } }),
    /Canceled/,
  );
  assert.ok(seen < 20, `stopped after ${seen}`);
});
