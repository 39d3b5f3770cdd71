/**
 * 12-bit lossy JPEG (JPEG Extended, Process 4), decoded by IJG libjpeg's 12-bit build (dcmjs-codecs):
 * - pydicom's JPEG-lossy.dcm against GDCM's decoding of it (tests/fixtures/dicom/jpeg12-reference.json);
 * - 12-bit variants of pydicom's CT, MR and an RGB image made here by dcmtk (`dcmcjpeg +ee`) against dcmtk's own decoding
 *   (`dcmdjpeg`), also with the header switched to signed;
 * - cut and damaged streams: a DicomError with its reason, and the decoder still works afterwards.
 * Both references are IJG-family decoders, so values must agree within 1 grey level. CI installs dcmtk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrame, readDicom, type DicomImage } from '../../electron/core/dicom/image.ts';
import { decodeCompressedFrame, encapsulatedFrame, type FrameShape } from '../../electron/core/dicom/codecs.ts';
import { DicomError } from '../../electron/core/dicom/parse.ts';
import { PYDICOM_FILES, loadReference } from '../helpers/dicom-reference.ts';
import { tempDir } from '../helpers/tmp.ts';

loadReference();
const dir = tempDir('loupe-jpeg12-');
const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';

function image(path: string): DicomImage {
  const c = readDicom(readFileSync(path));
  assert.equal(c.kind, 'image', path);
  return c as DicomImage;
}

async function values(img: DicomImage): Promise<number[]> {
  return Array.from((await decodeFrame(img, 0)).values);
}

function range(v: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

function worstDifference(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** dcmtk: encode as 12-bit extended sequential, and its own decoding of that file. */
function dcmtkVariant(source: string, name: string, signed = false): { jpeg: string; decoded: string } {
  const jpeg = join(dir, `${name}.dcm`);
  const decoded = join(dir, `${name}-dcmdjpeg.dcm`);
  execFileSync('dcmcjpeg', ['+ee', '+bt', join(PYDICOM_FILES, source), jpeg], { stdio: ['ignore', 'ignore', 'pipe'] });
  // dcmtk always writes lossy JPEG as unsigned; the signed case reads the same stream with the header saying signed.
  if (signed) execFileSync('dcmodify', ['-nb', '-m', '(0028,0103)=1', jpeg], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('dcmdjpeg', [jpeg, decoded], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { jpeg, decoded };
}

function frameOf(img: DicomImage): { data: Uint8Array; shape: FrameShape } {
  const ds = img.parsed.dataSet;
  const data = encapsulatedFrame(ds, ds.elements.x7fe00010!, 0, img.pixel.frames);
  const p = img.pixel;
  return { data, shape: { rows: p.rows, columns: p.columns, samples: p.samplesPerPixel, bitsAllocated: p.bitsAllocated, photometric: p.photometric } };
}

test("pydicom's JPEG-lossy.dcm decodes as GDCM decodes it", async () => {
  const ref = JSON.parse(readFileSync(new URL('../fixtures/dicom/jpeg12-reference.json', import.meta.url), 'utf8')) as {
    rows: number; columns: number; mean: number; min: number; max: number; stride: number; sampled: number[];
  };
  const img = image(join(PYDICOM_FILES, 'JPEG-lossy.dcm'));
  assert.equal(img.parsed.syntax.uid, JPEG_EXTENDED);
  assert.deepEqual([img.pixel.rows, img.pixel.columns, img.pixel.bitsStored], [ref.rows, ref.columns, 12]);
  const v = await values(img);
  assert.equal(v.length, ref.rows * ref.columns);
  const sampled = ref.sampled.map((_, i) => v[i * ref.stride]!);
  assert.ok(worstDifference(sampled, ref.sampled) <= 1, 'within 1 grey level of GDCM');
  assert.ok(Math.abs(v.reduce((a, b) => a + b, 0) / v.length - ref.mean) <= 0.5, 'mean');
  const [lo, hi] = range(v);
  assert.ok(Math.abs(lo - ref.min) <= 1 && Math.abs(hi - ref.max) <= 1, `range ${lo}…${hi}`);
});

// SC_rgb_small_odd: colour coded as YCbCr 4:2:2 (YBR_FULL_422), which dcmdjpeg turns into RGB and Loupe's pixel reader too.
for (const source of ['CT_small.dcm', 'MR_small.dcm', 'SC_rgb_small_odd.dcm']) {
  test(`dcmcjpeg +ee of ${source} (12-bit) decodes as dcmdjpeg decodes it`, async () => {
    const { jpeg, decoded } = dcmtkVariant(source, `ee-${source}`);
    const img = image(jpeg);
    assert.equal(img.parsed.syntax.uid, JPEG_EXTENDED);
    assert.equal(img.pixel.bitsStored, 12);
    const ours = await values(img);
    const theirs = await values(image(decoded));
    // A real 12-bit image, not 8 bits in disguise.
    assert.ok(range(theirs)[1] > 255, `dcmtk's values reach ${range(theirs)[1]}`);
    assert.ok(worstDifference(ours, theirs) <= 1, 'within 1 grey level of dcmtk');
  });
}

test('signed 12-bit JPEG: the coded 12-bit values are read as two\'s complement, as dcmtk reads them', async () => {
  const { jpeg, decoded } = dcmtkVariant('CT_small.dcm', 'ee-signed', true);
  const img = image(jpeg);
  assert.equal(img.pixel.signed, true);
  const ours = await values(img);
  const theirs = await values(image(decoded));
  const [lo, hi] = range(ours);
  assert.ok(lo < 0 && hi < 2048, `signed range ${lo}…${hi}`);
  assert.ok(worstDifference(ours, theirs) <= 1, 'within 1 grey level of dcmtk');
});

/** A copy of a JPEG stream with one byte of the first segment of marker FF<marker> set (`offset` from the FF). */
function withByte(data: Uint8Array, marker: number, offset: number, value: number): Uint8Array {
  const out = new Uint8Array(data);
  let at = 2;
  while (at < out.length && !(out[at] === 0xff && out[at + 1] === marker)) at++;
  assert.ok(at < out.length, `marker FF${marker.toString(16).toUpperCase()} found`);
  out[at + offset] = value;
  return out;
}

test('a cut 12-bit stream is refused with its reason, a damaged one gives libjpeg\'s reason, and decoding goes on', async () => {
  const img = image(join(PYDICOM_FILES, 'JPEG-lossy.dcm'));
  const { data, shape } = frameOf(img);
  await assert.rejects(decodeCompressedFrame('jpeg-8bit', data.subarray(0, Math.floor(data.length / 2)), shape),
    (e: unknown) => e instanceof DicomError && /^truncated 12-bit JPEG stream: it has no end-of-image marker$/.test(e.message));
  // A Huffman table (DHT) whose class/id byte is bogus: libjpeg's own words.
  const broken = withByte(data, 0xc4, 4, 0x7f);
  await assert.rejects(decodeCompressedFrame('jpeg-8bit', broken, shape),
    (e: unknown) => e instanceof DicomError && /^corrupt 12-bit JPEG stream: \S/.test(e.message), 'bogus DHT');
  // A frame header (SOF1, extended sequential) claiming 16-bit samples (gdcm's experimental lossy encoder writes such streams) is named as such.
  const sixteen = withByte(data, 0xc1, 4, 16);
  await assert.rejects(decodeCompressedFrame('jpeg-8bit', sixteen, shape),
    (e: unknown) => e instanceof DicomError && e.message === 'lossy JPEG stream with 16-bit samples: ISO 10918-1 allows 8 or 12');
  // Streams decoded side by side with a broken one (as an import does) are not hit by its failure.
  const side = await Promise.allSettled([broken, data, broken, data, data].map((d) => decodeCompressedFrame('jpeg-8bit', d, shape)));
  assert.deepEqual(side.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  // After libjpeg's error exit the next stream still decodes, to the same values.
  const again = await decodeCompressedFrame('jpeg-8bit', data, shape);
  assert.deepEqual(Array.from((await decodeFrame(img, 0)).values).slice(0, 4096), Array.from(new Uint16Array(again.bytes.buffer, again.bytes.byteOffset, 4096)));
});

test('JPEG-lossy.dcm damaged 80 ways: values or a DicomError, never another exception, never a hang', async () => {
  const img = image(join(PYDICOM_FILES, 'JPEG-lossy.dcm'));
  const { data, shape } = frameOf(img);
  let s = 12345;
  const random = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const unexpected: string[] = [];
  let refused = 0;
  for (let i = 0; i < 80; i++) {
    const bytes = new Uint8Array(data);
    // Half in the headers (tables, frame and scan headers: the first ~700 bytes), half anywhere.
    const span = i % 2 === 0 ? 700 : bytes.length;
    for (let k = 0; k < 4; k++) {
      const at = Math.floor(random() * span);
      bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
    }
    try {
      const out = await decodeCompressedFrame('jpeg-8bit', bytes, shape);
      assert.equal(out.bytes.length, shape.rows * shape.columns * 2);
    } catch (e) {
      if (e instanceof DicomError) refused++;
      else unexpected.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    }
  }
  assert.deepEqual(unexpected, []);
  assert.ok(refused > 0, 'some damage is detected');
  const good = await decodeCompressedFrame('jpeg-8bit', data, shape);
  assert.equal(good.bytes.length, shape.rows * shape.columns * 2);
});
