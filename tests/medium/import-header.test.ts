/** Our PNG/JPEG header parser must agree with sharp's metadata() on every fixture kind it accepts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { jpegHeader, pngHeader } from '../../electron/core/import/header.ts';
import * as img from '../fixtures/images.ts';

const FIELDS = ['format', 'width', 'height', 'channels', 'depth', 'bitsPerSample', 'space', 'hasAlpha', 'orientation', 'pages'] as const;

async function agree(name: string, buf: Buffer, parse: (b: Buffer) => unknown): Promise<void> {
  const ours = parse(buf) as Record<string, unknown> | null;
  assert.ok(ours, `${name}: parsed`);
  const theirs = (await sharp(buf).metadata()) as unknown as Record<string, unknown>;
  for (const f of FIELDS) {
    // sharp reports bitsPerSample for PNG only.
    if (f === 'bitsPerSample' && theirs[f] === undefined) continue;
    assert.equal(ours[f], theirs[f], `${name}: ${f}`);
  }
  assert.deepEqual(ours['autoOrient'], theirs['autoOrient'], `${name}: autoOrient`);
}

test('PNG headers match sharp: grey, grey+alpha, RGB, RGBA, palette, palette with transparency, 16-bit', async () => {
  await agree('grey', await img.png({ channels: 1 }), pngHeader);
  await agree('grey+alpha', await sharp(img.pixels8({ channels: 2 }), { raw: { width: 40, height: 30, channels: 2 } }).png().toBuffer(), pngHeader);
  await agree('rgb', await img.png({ channels: 3 }), pngHeader);
  await agree('rgba', await img.png({ channels: 4 }), pngHeader);
  await agree('palette', await img.palettePng(), pngHeader);
  await agree('palette+alpha', await sharp(img.pixels8({ channels: 4 }), { raw: { width: 40, height: 30, channels: 4 } }).png({ palette: true }).toBuffer(), pngHeader);
  await agree('grey16', await img.png16({ channels: 1 }), pngHeader);
  await agree('rgb16', await img.png16({ channels: 3 }), pngHeader);
});

test('JPEG headers match sharp, EXIF orientation included', async () => {
  await agree('rgb', await img.jpeg(), jpegHeader);
  await agree('grey', await sharp(img.pixels8({ channels: 1 }), { raw: { width: 40, height: 30, channels: 1 } }).toColourspace('b-w').jpeg().toBuffer(), jpegHeader);
  for (const o of [1, 3, 6, 8]) await agree(`orientation ${o}`, await img.jpeg({ width: 50, height: 20, orientation: o }), jpegHeader);
  const progressive = await sharp(img.pixels8(), { raw: { width: 40, height: 30, channels: 3 } }).jpeg({ progressive: true }).toBuffer();
  await agree('progressive', progressive, jpegHeader);
});

test('headers we do not handle fall back (null), never guess', async () => {
  assert.equal(pngHeader(Buffer.from('not a png at all, just some words here')), null);
  assert.equal(jpegHeader(Buffer.from([0xff, 0xd8, 0xff])), null);
  const cmyk = await sharp(img.pixels8({ channels: 3 }), { raw: { width: 40, height: 30, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
  assert.equal(jpegHeader(cmyk), null);
  // A PNG with an eXIf chunk may carry an orientation: sharp decides.
  const withExif = await img.png();
  const exifChunk = Buffer.alloc(12 + 4);
  exifChunk.writeUInt32BE(4, 0);
  exifChunk.write('eXIf', 4, 'latin1');
  const patched = Buffer.concat([withExif.subarray(0, 33), exifChunk, withExif.subarray(33)]);
  assert.equal(pngHeader(patched), null);
});
