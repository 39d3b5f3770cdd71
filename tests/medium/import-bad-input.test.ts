/** Bad input never crashes the import, never loses the good files, and each failure has a clear stored reason. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runImport } from '../../electron/core/import/importer.ts';
import { summarizeProject } from '../../electron/core/images/queries.ts';
import { renderMedia } from '../../electron/core/images/media.ts';
import * as img from '../fixtures/images.ts';
import { newProject, recordingContext, row, rows } from '../fixtures/import-context.ts';
import { tempDir } from '../helpers/tmp.ts';

test('each kind of bad file is stored as an error with its reason, next to the good ones', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, {
    'good/ok.png': await img.png({ seed: 1 }),
    'bad/empty.png': Buffer.alloc(0),
    'bad/cut.jpg': img.truncated(await img.jpeg({ width: 300, height: 200, seed: 2 })),
    'bad/cut.png': img.truncated(await img.png({ width: 300, height: 200, seed: 3 })),
    'bad/text.png': 'this is plain text, not an image',
    'bad/bomb.png': await img.pngBomb(100_000, 100_000),
    'bad/old.bmp': img.bmp(),
  });
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  // This build of sharp/libvips has no BMP loader (no ImageMagick); if a future one has, BMP simply imports.
  const bmpReadable = Boolean((sharp.format as unknown as Record<string, { input: { buffer: boolean } }>)['bmp']?.input.buffer);
  assert.equal(report.added, bmpReadable ? 2 : 1);
  assert.equal(report.failed, bmpReadable ? 5 : 6);
  assert.ok(report.errors.every((e) => e.path.startsWith(`${src}/`)), 'report paths are absolute');
  const reasons = Object.fromEntries(report.errors.map((e) => [e.path.slice(src.length + 1), e.reason]));
  assert.match(reasons['bad/empty.png']!, /empty file/);
  assert.match(reasons['bad/cut.jpg']!, /truncated or corrupt JPEG/);
  assert.match(reasons['bad/cut.png']!, /truncated or corrupt PNG/);
  assert.match(reasons['bad/text.png']!, /not an image/);
  assert.match(reasons['bad/bomb.png']!, /too large: 100000×100000 .* exceeds the limit of 100\.0 megapixels/);
  if (!bmpReadable) assert.match(reasons['bad/old.bmp']!, /unsupported format: BMP cannot be read by this build/);

  // Stored: status 'error', the reason, no hash (so errors never count as duplicates), no class.
  for (const rel of Object.keys(reasons)) {
    const r = row(p, rel);
    assert.equal(r.status, 'error');
    assert.equal(r.error, reasons[rel]);
    assert.equal(r.sha256, null);
    assert.equal(r.class_id, null);
  }
  const s = summarizeProject(p);
  assert.equal(s.errors.length, report.failed);
  assert.deepEqual(s.duplicates, []);
  await assert.rejects(renderMedia(p, 'thumb', row(p, 'bad/cut.png').id), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BAD_INPUT');
    assert.match(e.message, /could not be imported: truncated/);
    return true;
  });
});

test('the pixel limit is configurable (project meta limit_input_pixels)', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'big.png': await img.png({ width: 200, height: 100 }), 'small.png': await img.png({ width: 20, height: 10 }) });
  const p = newProject(dir);
  p.db.prepare(`INSERT INTO meta (key, value) VALUES ('limit_input_pixels', '10000')`).run();
  const report = await runImport(p, [src], 'none', recordingContext());
  assert.equal(report.added, 1);
  assert.match(row(p, 'big.png').error!, /200×100 = 0\.0 megapixels exceeds the limit/);
});

test('hidden and system files are ignored and counted, never imported', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  const png = await img.png({ seed: 1 });
  img.writeTree(src, {
    'cat/a.png': png,
    'cat/.DS_Store': 'mac',
    'cat/Thumbs.db': 'win',
    'cat/._a.png': 'appledouble',
    'cat/.hidden.png': png,
    '__MACOSX/cat/._a.png': 'zip junk',
    '.git/objects/x.png': png,
    'cat/labels.csv': 'a.png,cat',
  });
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(report.added, 1);
  // .DS_Store, Thumbs.db, ._a.png, .hidden.png, labels.csv, and the __MACOSX and .git folders (1 each).
  assert.equal(report.ignored, 7);
  assert.deepEqual(rows(p).map((r) => r.rel_path), ['cat/a.png']);
});

test('broken symlinks and symlink loops are reported without endless recursion', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'cat/a.png': await img.png({ seed: 1 }) });
  symlinkSync(join(src, 'nowhere.png'), join(src, 'cat', 'dangling.png'));
  symlinkSync(src, join(src, 'cat', 'up')); // points at an ancestor: a loop
  symlinkSync(join(src, 'cat', 'self'), join(src, 'cat', 'self')); // resolves to itself
  symlinkSync(join(src, 'cat', 'a.png'), join(src, 'cat', 'alias.png')); // a good link to a file
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  const reasons = Object.fromEntries(report.errors.map((e) => [e.path.slice(src.length + 1), e.reason]));
  assert.match(reasons['cat/dangling.png']!, /broken symlink/);
  assert.match(reasons['cat/up']!, /symlink loop/);
  assert.match(reasons['cat/self']!, /symlink loop/);
  assert.equal(report.added, 2);
  assert.equal(row(p, 'cat/alias.png').sha256, row(p, 'cat/a.png').sha256);
});

test('non-UTF-8 and very long file names import and stay readable through their raw bytes', async () => {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(join(src, 'cat'), { recursive: true });
  const png = await img.png({ seed: 5 });
  const png2 = await img.png({ seed: 6 });
  // 'caf\xe9.png' and 'caf\xe8.png' in Latin-1: not valid UTF-8, and equal if decoded lossily.
  const latin1a = Buffer.concat([Buffer.from(join(src, 'cat') + '/'), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from('.png')]);
  const latin1b = Buffer.concat([Buffer.from(join(src, 'cat') + '/'), Buffer.from([0x63, 0x61, 0x66, 0xe8]), Buffer.from('.png')]);
  writeFileSync(latin1a, png);
  writeFileSync(latin1b, png2);
  const longName = `${'x'.repeat(240)}.png`;
  const longDir = 'd'.repeat(200);
  img.writeTree(src, { [`cat/${longDir}/${longName}`]: png, 'cat/日本語の名前.png': png2 });
  const p = newProject(dir);
  const report = await runImport(p, [src], 'folders', recordingContext());
  assert.equal(report.failed, 0, JSON.stringify(report.errors));
  assert.equal(report.added, 4);
  const a = row(p, 'cat/caf%E9.png');
  assert.deepEqual(a.rel_path_raw, Buffer.concat([Buffer.from('cat/caf'), Buffer.from([0xe9]), Buffer.from('.png')]));
  assert.equal(a.class_name, 'cat');
  assert.equal(row(p, 'cat/caf%E8.png').status, 'ok');
  assert.equal(row(p, `cat/${longDir}/${longName}`).status, 'ok');
  assert.equal(row(p, 'cat/日本語の名前.png').rel_path_raw, null);
  // The media route reads the file back through the raw bytes.
  const shown = await renderMedia(p, 'image', a.id);
  assert.equal(shown.contentType, 'image/png');
  // Re-import: nothing changes for these names either.
  const again = await runImport(p, [src], 'folders', recordingContext());
  assert.deepEqual([again.added, again.unchanged, again.failed], [0, 4, 0]);
  assert.ok(readFileSync(latin1a).equals(png));
});

test('unreadable files are reported (when the OS refuses; root reads everything)', async (t) => {
  const dir = tempDir();
  const src = join(dir, 'src');
  img.writeTree(src, { 'locked.png': await img.png({ seed: 1 }), 'open.png': await img.png({ seed: 2 }) });
  chmodSync(join(src, 'locked.png'), 0o000);
  let refused = false;
  try {
    readFileSync(join(src, 'locked.png'));
  } catch {
    refused = true;
  }
  if (!refused) {
    t.skip('running as root: chmod 000 does not stop reads, so there is no permission error to observe');
    return;
  }
  const p = newProject(dir);
  const report = await runImport(p, [src], 'none', recordingContext());
  assert.equal(report.added, 1);
  assert.match(row(p, 'locked.png').error!, /permission denied/);
});
