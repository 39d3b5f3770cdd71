/**
 * The import's reusable read buffers (import/read-buffers.ts) on real files: every image of a real import keeps
 * its own bytes (hash and thumbnail) while buffers pass from file to file, and a file that changed size since the
 * scan is still read whole. Reads are bounded: a file over the limit is refused before its bytes are allocated
 * (also when it grew past the limit since the scan), and an import holds at most its read budget
 * of file bytes at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runImport } from '../../electron/core/import/importer.ts';
import { thumbPath } from '../../electron/core/import/thumbnails.ts';
import { makeThumbnail } from '../../electron/core/import/probe.ts';
import { FileTooLarge, POOLED_READ_MAX_BYTES, POOLED_READ_MIN_BYTES, ReadBudget, ReadBuffers } from '../../electron/core/import/read-buffers.ts';
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

test('a file over 1 GiB is refused by its size: the import never allocates its bytes', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  writeTree(src, { 'a.png': await storedPng(40, 40, 3, 1), 'b.png': await storedPng(41, 41, 3, 2) });
  // Sparse: 1.5 GiB that take no disk, and that a read would still fill into memory.
  const huge = join(src, 'huge.png');
  writeFileSync(huge, '');
  truncateSync(huge, 1.5 * 1024 ** 3);
  const peakBefore = process.resourceUsage().maxRSS; // kB
  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext());
  assert.equal(report.added, 2);
  assert.equal(report.failed, 1);
  assert.match(report.errors.find((e) => e.path.endsWith('huge.png'))?.reason ?? '', /^file too large \(over 1 GiB\)$/);
  const grewMiB = (process.resourceUsage().maxRSS - peakBefore) / 1024;
  assert.ok(grewMiB < 256, `peak memory grew by ${grewMiB.toFixed(0)} MiB: the file was read`);
});

test('a read refuses a file past its limit before allocating it, also when it grew since the scan', async () => {
  const dir = tempDir();
  const limit = POOLED_READ_MAX_BYTES + 512 * 1024;
  const buffers = new ReadBuffers(4, limit);
  const within = join(dir, 'within.bin');
  const bytes = Buffer.alloc(POOLED_READ_MAX_BYTES + 256 * 1024);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i >> 12) & 0xff;
  writeFileSync(within, bytes);
  // Above the pooled sizes: read in libuv's pool, whole.
  assert.ok((await buffers.load(within, bytes.length)).bytes.equals(bytes));
  const over = join(dir, 'over.bin');
  writeFileSync(over, '');
  truncateSync(over, limit + 1);
  await assert.rejects(buffers.load(over, limit + 1), FileTooLarge);
  // Scanned small (a pooled read), past the limit now: the pooled buffer fills, and the file is sized again.
  await assert.rejects(buffers.load(over, 300 * 1024), FileTooLarge);
  assert.throws(() => buffers.read(over, 300 * 1024), FileTooLarge);
  // Scanned tiny (a plain read), past the limit now.
  assert.throws(() => buffers.read(over, 10), FileTooLarge);
});

test('the read budget holds bytes in order and lets a file larger than itself through alone', async () => {
  const budget = new ReadBudget(100);
  const order: string[] = [];
  const a = await budget.acquire(60);
  const b = budget.acquire(50).then((n) => (order.push('b'), n));
  // Fits, but waits behind b: a large file first in line is not passed.
  const c = budget.acquire(10).then((n) => (order.push('c'), n));
  await new Promise((r) => setImmediate(r));
  assert.equal(order.length, 0);
  assert.equal(budget.held, 60);
  budget.release(a);
  assert.equal(await b, 50);
  assert.equal(await c, 10);
  assert.deepEqual(order, ['b', 'c']);
  const huge = budget.acquire(10_000).then((n) => (order.push('huge'), n));
  await new Promise((r) => setImmediate(r));
  assert.equal(order.length, 2, 'the oversized file waits for the others');
  budget.release(50);
  budget.release(10);
  assert.equal(await huge, 100, 'it holds the whole budget');
  assert.equal(budget.held, 100);
  budget.release(100);
  assert.equal(budget.held, 0);
});

test('an import whose read budget is smaller than any file still imports them all: none waits forever', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 6; i++) files[`f${i}.png`] = await storedPng(300 + i, 300, 3, i + 1);
  writeTree(src, files);
  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext(), undefined, { concurrency: 3, readBudget: 1 });
  assert.equal(report.failed, 0, JSON.stringify(report.errors));
  assert.equal(report.added, 6);
  for (const r of rows(p)) assert.equal(r.sha256, sha(files[r.rel_path]!));
});
