import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extensionMatches,
  hasImageExtension,
  hasNoExtension,
  isHiddenOrSystemDir,
  isHiddenOrSystemFile,
  sniffFormat,
} from '../../electron/core/import/formats.ts';
import { displaySegment } from '../../electron/core/import/walk.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);

test('image extensions are recognized in any case', () => {
  for (const n of ['a.jpg', 'a.JPG', 'a.JpEg', 'b.PNG', 'c.tif', 'c.TIFF', 'd.WebP', 'e.gif', 'f.BMP']) {
    assert.equal(hasImageExtension(n), true, n);
  }
  for (const n of ['a.txt', 'a.png.txt', 'png', '.png', 'a.jpgx']) assert.equal(hasImageExtension(n), false, n);
  assert.equal(hasNoExtension('scan0001'), true);
  assert.equal(hasNoExtension('scan.0001'), false);
});

test('hidden and system files and folders are recognized', () => {
  for (const n of ['.DS_Store', 'Thumbs.db', 'THUMBS.DB', 'desktop.ini', '._photo.jpg', '.hidden.png']) {
    assert.equal(isHiddenOrSystemFile(n), true, n);
  }
  assert.equal(isHiddenOrSystemFile('photo.jpg'), false);
  for (const n of ['__MACOSX', '.git', '$RECYCLE.BIN', '@eaDir']) assert.equal(isHiddenOrSystemDir(n), true, n);
  assert.equal(isHiddenOrSystemDir('cats'), false);
});

test('formats are sniffed from magic bytes', () => {
  assert.equal(sniffFormat(bytes(0xff, 0xd8, 0xff, 0xe0)), 'jpeg');
  assert.equal(sniffFormat(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'png');
  assert.equal(sniffFormat(Buffer.from('GIF89a')), 'gif');
  assert.equal(sniffFormat(bytes(0x49, 0x49, 0x2a, 0x00)), 'tiff');
  assert.equal(sniffFormat(bytes(0x4d, 0x4d, 0x00, 0x2a)), 'tiff');
  assert.equal(sniffFormat(Buffer.from('RIFF\x10\x00\x00\x00WEBP', 'latin1')), 'webp');
  assert.equal(sniffFormat(Buffer.from('RIFF\x10\x00\x00\x00WAVE', 'latin1')), null);
  assert.equal(sniffFormat(Buffer.from('BM')), 'bmp');
  assert.equal(sniffFormat(Buffer.from('hello, I am text')), null);
  assert.equal(sniffFormat(bytes()), null);
  assert.equal(sniffFormat(bytes(0xff, 0xd8)), null);
});

test('an extension that disagrees with the content is detected', () => {
  assert.equal(extensionMatches('png', 'x.jpg'), false);
  assert.equal(extensionMatches('png', 'x.PNG'), true);
  assert.equal(extensionMatches('jpeg', 'x.jpeg'), true);
  assert.equal(extensionMatches('tiff', 'x.tif'), true);
  assert.equal(extensionMatches('gif', 'noext'), true);
});

test('non-UTF-8 names get a unique escaped display form', () => {
  assert.deepEqual(displaySegment(Buffer.from('café.png')), { text: 'café.png', valid: true });
  const latin1 = displaySegment(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x70, 0x6e, 0x67]));
  assert.deepEqual(latin1, { text: 'caf%E9.png', valid: false });
  const other = displaySegment(Buffer.from([0x63, 0x61, 0x66, 0xe8, 0x2e, 0x70, 0x6e, 0x67]));
  assert.notEqual(other.text, latin1.text);
});
