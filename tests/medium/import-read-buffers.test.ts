/**
 * The import's reusable read buffers (import/read-buffers.ts) on real files: every image of a real import keeps
 * its own bytes (hash and thumbnail) while buffers pass from file to file, and a file that changed size since the
 * scan is still read whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runImport } from '../../electron/core/import/importer.ts';
import { thumbPath } from '../../electron/core/import/thumbnails.ts';
import { makeThumbnail } from '../../electron/core/import/probe.ts';
import { POOLED_READ_MIN_BYTES, ReadBuffers } from '../../electron/core/import/read-buffers.ts';
import { pixels8, writeTree } from '../fixtures/images.ts';
import { newProject, recordingContext, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

/** A PNG stored without compression, so that its size is about width × height × channels. */
function storedPng(width: number, height: number, channels: 3 | 4, seed: number): Promise<Buffer> {
  return sharp(pixels8({ width, height, channels, seed }), { raw: { width, height, channels } }).png({ compressionLevel: 0 }).toBuffer();
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('an import of files read into shared buffers gives every image the hash and thumbnail of its own bytes', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const files: Record<string, Buffer> = {};
  // Sizes in two buffer classes (512 KiB and 1 MiB), more files than buffers kept, so buffers pass between files;
  // 256 px ones are decoded in the import's own thread, the larger ones by sharp.
  for (let i = 0; i < 16; i++) {
    const side = i % 3 === 0 ? 256 : 360 + 10 * i;
    files[`f${String(i).padStart(2, '0')}.png`] = await storedPng(side, side, i % 3 === 0 ? 4 : 3, i + 1);
  }
  files['small.png'] = await storedPng(20, 20, 3, 99);
  writeTree(src, files);
  assert.ok(Object.values(files).filter((b) => b.length >= POOLED_READ_MIN_BYTES).length >= 15, 'most files are read into pooled buffers');

  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext(), undefined, { concurrency: 2 });
  assert.equal(report.failed, 0, JSON.stringify(report.errors));
  assert.equal(report.added, 17);
  for (const r of rows(p)) {
    const bytes = files[r.rel_path]!;
    assert.equal(r.sha256, sha(bytes), `${r.rel_path}: the hash of its own bytes`);
    const thumb = readFileSync(thumbPath(p.thumbDir, r.sha256!));
    assert.ok(thumb.equals(await makeThumbnail(bytes, { min: null, max: null }, 1e8)), `${r.rel_path}: the thumbnail of its own pixels`);
  }
});

test('a pooled read gets the whole file when its size changed since the scan, and a buffer is given back once', () => {
  const dir = tempDir();
  const a = join(dir, 'a.bin');
  const bytes = Buffer.alloc(600 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 10)) & 0xff;
  writeFileSync(a, bytes);
  const buffers = new ReadBuffers(4);

  // Scanned at 300 kB (a 512 KiB buffer), grown to 600 kB since: read whole, in a Buffer of its own.
  const grown = buffers.read(a, 300 * 1024);
  assert.ok(grown.bytes.equals(bytes));
  grown.done();
  // Scanned larger than it is now: exactly the bytes there are.
  const shrunk = buffers.read(a, 1000 * 1024);
  assert.ok(shrunk.bytes.equals(bytes));

  // A second done() must not put the buffer in the pool twice (two later files would then share it).
  shrunk.done();
  shrunk.done();
  const b = join(dir, 'b.bin');
  writeFileSync(b, Buffer.alloc(700 * 1024, 0xbb));
  appendFileSync(a, Buffer.alloc(50 * 1024, 0xaa));
  const first = buffers.read(a, 650 * 1024);
  const second = buffers.read(b, 700 * 1024);
  assert.equal(first.bytes.length, 650 * 1024);
  assert.ok(first.bytes.subarray(0, bytes.length).equals(bytes), 'the first file is intact after the second was read');
  assert.ok(second.bytes.every((v) => v === 0xbb));
  assert.throws(() => buffers.read(join(dir, 'missing.bin'), 400 * 1024), /ENOENT/);
});
