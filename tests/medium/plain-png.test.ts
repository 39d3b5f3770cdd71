/**
 * The in-thread PNG decoder (images/plain-png.ts) must give sharp's pixels exactly, and hand everything it does
 * not fully understand back to sharp: decodeForModel's output and the import's thumbnails may not depend on which
 * of the two decoded a file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import sharp, { type PngOptions } from 'sharp';
import { plainPngPixels } from '../../electron/core/images/plain-png.ts';
import { decodeForModel, type InputShape } from '../../electron/core/images/model-input.ts';
import { DEFAULT_LIMIT_INPUT_PIXELS, probeImage, THUMB_SIZE } from '../../electron/core/import/probe.ts';
import { loadFashionMnist } from '../helpers/fashion-mnist.ts';
import * as img from '../fixtures/images.ts';

const any = () => true;
const NO_RANGE = { min: null, max: null };

/** What sharp alone makes of a PNG already at the model's size (decodeForModel's sharp pipeline, resize aside). */
async function sharpPixels(buf: Buffer, channels: 1 | 3): Promise<Buffer> {
  const flat = sharp(buf).flatten({ background: { r: 0, g: 0, b: 0 } });
  return (channels === 1 ? flat.toColourspace('b-w') : flat.toColourspace('srgb')).raw().toBuffer();
}

async function encode(px: Uint8Array, width: number, height: number, channels: 1 | 3, opts: PngOptions): Promise<Buffer> {
  const raw = sharp(px, { raw: { width, height, channels } });
  return (channels === 1 ? raw.toColourspace('b-w') : raw).png(opts).toBuffer();
}

test('Fashion-MNIST PNGs: decodeForModel gives sharp\'s pixels, as grey and as RGB', async () => {
  const set = loadFashionMnist('t10k');
  for (let i = 0; i < 300; i++) {
    const buf = await encode(set.images.subarray(i * 784, (i + 1) * 784), 28, 28, 1, {});
    for (const channels of [1, 3] as const) {
      const shape: InputShape = { imageSize: 28, channels, resize: 'squash' };
      const ours = await decodeForModel(buf, shape, NO_RANGE, DEFAULT_LIMIT_INPUT_PIXELS);
      assert.deepEqual(Buffer.from(ours.pixels), await sharpPixels(buf, channels), `image ${i}, ${channels} channel(s)`);
      assert.equal(ours.converted, channels === 3 ? 'grayscale image converted to RGB' : null);
    }
  }
});

test('every row filter, compression level and IDAT split decodes to the encoded pixels', async () => {
  for (let k = 0; k < 120; k++) {
    const width = 1 + ((k * 7) % 97);
    const height = 1 + ((k * 13) % 61);
    const channels = k % 2 ? 3 : 1;
    // Noise for some images (filters rarely help), structured content for others (every filter gets chosen).
    const px = k % 3 === 0 ? Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 2654435761) >>> 24) : img.pixels8({ width, height, channels, seed: k });
    const buf = await encode(px, width, height, channels, { adaptiveFiltering: k % 4 !== 0, compressionLevel: k % 10 });
    const png = plainPngPixels(buf, DEFAULT_LIMIT_INPUT_PIXELS, any);
    assert.ok(png, `${width}×${height}×${channels} decodes`);
    assert.deepEqual(png.data, px, `${width}×${height}×${channels}`);
    // The pixel data in several IDAT chunks, as PIL writes large images.
    const chunks = img.pngChunks(buf);
    const data = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
    const thirds = [data.subarray(0, data.length / 3), data.subarray(data.length / 3, (2 * data.length) / 3), data.subarray((2 * data.length) / 3)];
    const split = img.pngOf([chunks[0]!, ...thirds.map((d) => ({ type: 'IDAT', data: d })), { type: 'IEND', data: Buffer.alloc(0) }]);
    assert.deepEqual(plainPngPixels(split, DEFAULT_LIMIT_INPUT_PIXELS, any)?.data, px, 'split IDAT');
  }
});

/** The chunks of `buf` with `extra` inserted after IHDR. */
function withChunk(buf: Buffer, type: string, data: Buffer): Buffer {
  const [ihdr, ...rest] = img.pngChunks(buf);
  return img.pngOf([ihdr!, { type, data }, ...rest]);
}

test('anything not plain goes to sharp, and decodeForModel still gives sharp\'s result', async () => {
  const grey = await img.png({ width: 32, height: 32, channels: 1 });
  const shape: InputShape = { imageSize: 32, channels: 1, resize: 'squash' };
  assert.ok(plainPngPixels(grey, DEFAULT_LIMIT_INPUT_PIXELS, any), 'the plain file itself decodes');
  const trns = Buffer.alloc(2);
  trns.writeUInt16BE(img.pixels8({ width: 32, height: 32, channels: 1 })[0]!, 0);
  // A byte of the pixel data changed (IEND is the last 12 bytes, IDAT's CRC the 4 before).
  const corruptCrc = Buffer.from(grey);
  corruptCrc.writeUInt8(corruptCrc.readUInt8(corruptCrc.length - 20) ^ 0xff, corruptCrc.length - 20);
  const [ihdr] = img.pngChunks(grey);
  // The header promises 32×32 but the stream holds twice the rows: the inflate is bounded by the header.
  const long = img.pngOf([ihdr!, { type: 'IDAT', data: deflateSync(Buffer.alloc(33 * 64)) }, { type: 'IEND', data: Buffer.alloc(0) }]);
  const notPlain: Record<string, Buffer> = {
    'transparent colour (tRNS)': withChunk(grey, 'tRNS', trns),
    'gamma (gAMA)': withChunk(grey, 'gAMA', Buffer.from([0, 0, 0xb1, 0x8f])),
    'EXIF (eXIf)': withChunk(grey, 'eXIf', Buffer.from('MM\0*\0\0\0\x08\0\0', 'latin1')),
    'an unknown chunk': withChunk(grey, 'quIRk', Buffer.from('x')),
    interlaced: await sharp(img.pixels8({ width: 32, height: 32, channels: 1 }), { raw: { width: 32, height: 32, channels: 1 } }).toColourspace('b-w').png({ progressive: true }).toBuffer(),
    '16-bit': await img.png16({ width: 32, height: 32, channels: 1 }),
    palette: await img.palettePng({ width: 32, height: 32 }),
    'grey + alpha': await sharp(img.pixels8({ width: 32, height: 32, channels: 2 }), { raw: { width: 32, height: 32, channels: 2 } }).png().toBuffer(),
    'a damaged CRC': corruptCrc,
    'cut short': img.truncated(grey, 0.8),
    'more data than the header says': long,
    'image data split by another chunk': (() => {
      const [head, ...rest] = img.pngChunks(grey);
      const data = rest.find((c) => c.type === 'IDAT')!.data;
      const half = data.length >> 1;
      return img.pngOf([head!, { type: 'IDAT', data: data.subarray(0, half) }, { type: 'tEXt', data: Buffer.from('k\0v', 'latin1') }, { type: 'IDAT', data: data.subarray(half) }, { type: 'IEND', data: Buffer.alloc(0) }]);
    })(),
  };
  for (const [name, buf] of Object.entries(notPlain)) {
    assert.equal(plainPngPixels(buf, DEFAULT_LIMIT_INPUT_PIXELS, any), null, name);
    // Through decodeForModel: sharp's pixels, or sharp's refusal.
    const theirs = await sharpPixels(buf, 1).catch(() => null);
    const ours = await decodeForModel(buf, shape, NO_RANGE, DEFAULT_LIMIT_INPUT_PIXELS).catch(() => null);
    if (name === '16-bit' || name === 'more data than the header says' || !theirs) continue;
    assert.deepEqual(Buffer.from(ours!.pixels), theirs, `${name}: decodeForModel = sharp`);
  }
  // The transparent grey level becomes black, as everywhere else (flatten): the plain decoder must not have taken it.
  const flattened = await decodeForModel(notPlain['transparent colour (tRNS)']!, shape, NO_RANGE, DEFAULT_LIMIT_INPUT_PIXELS);
  assert.equal(flattened.pixels[0], 0);
  assert.equal(plainPngPixels(Buffer.from('not a png'), DEFAULT_LIMIT_INPUT_PIXELS, any), null);
});

test('only files the caller accepts are inflated: other sizes, colour to grey, over the pixel limit', async () => {
  const rgb = await img.png({ width: 30, height: 30, channels: 3 });
  assert.equal(plainPngPixels(rgb, DEFAULT_LIMIT_INPUT_PIXELS, (w, h, c) => c === 1), null);
  assert.equal(plainPngPixels(rgb, 899, any), null, 'over the pixel limit');
  assert.ok(plainPngPixels(rgb, 900, any));
  // Another size or colour to grey: sharp resizes and converts, as before.
  for (const shape of [{ imageSize: 28, channels: 3 }, { imageSize: 30, channels: 1 }] as const) {
    const ours = await decodeForModel(rgb, { ...shape, resize: 'squash' }, NO_RANGE, DEFAULT_LIMIT_INPUT_PIXELS);
    const flat = sharp(rgb).resize(shape.imageSize, shape.imageSize, { fit: 'fill' }).flatten({ background: { r: 0, g: 0, b: 0 } });
    const theirs = await (shape.channels === 1 ? flat.toColourspace('b-w') : flat.toColourspace('srgb')).raw().toBuffer();
    assert.deepEqual(Buffer.from(ours.pixels), theirs, `${shape.imageSize} px, ${shape.channels} channel(s)`);
  }
});

test('a small plain PNG of another size reaches sharp as its pixels: decodeForModel gives the bytes sharp makes from the file', async () => {
  const fit = { squash: { fit: 'fill' }, letterbox: { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 1 } }, 'center-crop': { fit: 'cover', position: 'centre' } } as const;
  const grey28 = await img.png({ width: 28, height: 28, channels: 1, seed: 2 });
  const rgb96 = await img.png({ width: 96, height: 96, channels: 3, seed: 3 });
  const sources: Record<string, Buffer> = {
    'grey 28 px': grey28,
    'colour 96 px': rgb96,
    'colour 50×30': await img.png({ width: 50, height: 30, channels: 3, seed: 5 }),
    'grey 20×40': await img.png({ width: 20, height: 40, channels: 1, seed: 6 }),
    'colour with sRGB, pHYs and tEXt': withChunk(withChunk(withChunk(rgb96, 'sRGB', Buffer.from([0])), 'pHYs', Buffer.from([0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1])), 'tEXt', Buffer.from('Author\0DOE^JANE', 'latin1')),
    'grey with bKGD': withChunk(grey28, 'bKGD', Buffer.from([0, 0x80])),
  };
  let checked = 0;
  for (const [name, buf] of Object.entries(sources)) {
    assert.ok(plainPngPixels(buf, DEFAULT_LIMIT_INPUT_PIXELS, any), `${name} is plain`);
    for (const imageSize of [16, 64])
      for (const channels of [1, 3] as const)
        for (const resize of ['squash', 'letterbox', 'center-crop'] as const) {
          const ours = await decodeForModel(buf, { imageSize, channels, resize }, NO_RANGE, DEFAULT_LIMIT_INPUT_PIXELS);
          const flat = sharp(buf, { autoOrient: true }).resize(imageSize, imageSize, fit[resize]).flatten({ background: { r: 0, g: 0, b: 0 } });
          const theirs = await (channels === 1 ? flat.toColourspace('b-w') : flat.toColourspace('srgb')).raw().toBuffer();
          assert.deepEqual(Buffer.from(ours.pixels), theirs, `${name} → ${imageSize} px, ${channels} channel(s), ${resize}`);
          const from = name.startsWith('grey') ? 1 : 3;
          assert.equal(ours.converted, from === channels ? null : from === 1 ? 'grayscale image converted to RGB' : 'colour image converted to grayscale');
          checked++;
        }
  }
  assert.equal(checked, 72);
});

/** Raw pixels sharp decodes from an image file, in sRGB or grey as the import's thumbnails hold them. */
async function thumbPixels(buf: Buffer, channels: number): Promise<Buffer> {
  return (channels === 1 ? sharp(buf).toColourspace('b-w') : sharp(buf).toColourspace('srgb')).raw().toBuffer();
}

test('import: a plain PNG gets the thumbnail and grey check sharp gives the same pixels; a small one is its own thumbnail', async () => {
  const cases: Record<string, Buffer> = {
    'colour 96 px': await img.png({ width: 96, height: 96, channels: 3, seed: 4 }),
    'grey 28 px': await img.png({ width: 28, height: 28, channels: 1 }),
    'grey stored as RGB': await img.greyAsRgb('png', { width: 64, height: 48 }),
    'largest that needs no resize': await img.png({ width: THUMB_SIZE, height: 100, channels: 3 }),
  };
  const kinds = new Set<string>();
  for (const [name, plain] of Object.entries(cases)) {
    const decoded = plainPngPixels(plain, DEFAULT_LIMIT_INPUT_PIXELS, any);
    assert.ok(decoded, `${name}: plain`);
    // The same file with a chunk the plain decoder does not know (sharp skips it): decoded by sharp.
    const viaSharp = withChunk(plain, 'quIRk', Buffer.from('x'));
    const opts = { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: true };
    const ours = await probeImage(plain, 'a.png', opts);
    const theirs = await probeImage(viaSharp, 'a.png', opts);
    assert.ok(ours.thumb && theirs.thumb);
    assert.equal((await sharp(theirs.thumb).metadata()).format, 'webp');
    if (ours.thumb.length <= 8 * 1024 && (await sharp(ours.thumb).metadata()).format === 'png') {
      // Up to 8 KiB the file's own image chunks are the thumbnail: the same pixels, losslessly.
      kinds.add('png');
      assert.deepEqual(img.pngChunks(ours.thumb).map((c) => c.type), ['IHDR', ...img.pngChunks(plain).filter((c) => c.type === 'IDAT').map(() => 'IDAT'), 'IEND']);
      assert.deepEqual(await thumbPixels(ours.thumb, decoded.channels), await thumbPixels(plain, decoded.channels), `${name}: thumbnail pixels`);
    } else {
      kinds.add('webp');
      assert.ok(plain.length > 8 * 1024, `${name}: a WebP only for a file over 8 KiB (${plain.length} bytes)`);
      assert.deepEqual(ours.thumb, theirs.thumb, `${name}: thumbnail bytes`);
    }
    assert.equal(ours.channelsEqual, theirs.channelsEqual, `${name}: grey check`);
  }
  assert.deepEqual([...kinds].sort(), ['png', 'webp'], 'both kinds of thumbnail were made');
  assert.equal((await probeImage(cases['grey stored as RGB']!, 'a.png', { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: true })).channelsEqual, true);
  assert.equal((await probeImage(cases['colour 96 px']!, 'a.png', { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: true })).channelsEqual, false);
});

test('a PNG that is its own thumbnail leaves its text, time and other harmless chunks behind', async () => {
  const plain = await img.png({ width: 28, height: 28, channels: 1, seed: 9 });
  const name = 'DOE^JANE 1961-04-02';
  let tagged = withChunk(plain, 'tEXt', Buffer.from(`Patient\0${name}`, 'latin1'));
  tagged = withChunk(tagged, 'iTXt', Buffer.from(`Comment\0\0\0\0\0${name}`, 'utf8'));
  tagged = withChunk(tagged, 'zTXt', Buffer.concat([Buffer.from('Author\0\0', 'latin1'), deflateSync(name)]));
  tagged = withChunk(tagged, 'tIME', Buffer.from([0x07, 0xea, 12, 5, 6, 30, 0]));
  assert.ok(plainPngPixels(tagged, DEFAULT_LIMIT_INPUT_PIXELS, any), 'still plain: those chunks do not change the pixels');
  const { thumb } = await probeImage(tagged, 'a.png', { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: true });
  assert.ok(thumb);
  assert.deepEqual(img.pngChunks(thumb).map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
  assert.ok(!thumb.includes(Buffer.from('DOE^JANE')) && !thumb.includes(Buffer.from('Patient')));
  assert.deepEqual(thumb, (await probeImage(plain, 'a.png', { limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, makeThumb: true })).thumb, 'the same bytes as the untagged file');
  assert.deepEqual(await thumbPixels(thumb, 1), await thumbPixels(tagged, 1));
});
