/**
 * Bad input never crashes: real pydicom files with bytes flipped, cut or zeroed at seeded random places either
 * read (possibly with other pixels) or fail with a DicomError and its reason, never with another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrame, readDicom } from '../../electron/core/dicom/image.ts';
import { DicomError } from '../../electron/core/dicom/parse.ts';
import { PYDICOM_FILES, loadReference } from '../helpers/dicom-reference.ts';

loadReference();

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SOURCES = ['MR_small_RLE.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_jp2klossless.dcm', 'SC_rgb_jpeg_dcmtk.dcm', 'SC_rgb_jpeg_gdcm.dcm', 'image_dfl.dcm', 'MR_small_implicit.dcm', 'rtdose.dcm'];

for (const name of SOURCES) {
  test(`${name} mutated 60 ways: read or a DicomError, nothing else`, async () => {
    const original = readFileSync(join(PYDICOM_FILES, name));
    const random = rng(name.length * 7919);
    const unexpected: string[] = [];
    for (let i = 0; i < 60; i++) {
      const bytes = Buffer.from(original);
      const at = Math.floor(random() * bytes.length);
      const how = i % 3;
      let mutated: Buffer;
      if (how === 0) {
        for (let k = 0; k < 8; k++) bytes[(at + k * 13) % bytes.length] = Math.floor(random() * 256);
        mutated = bytes;
      } else if (how === 1) {
        mutated = bytes.subarray(0, at);
      } else {
        bytes.fill(0, at, Math.min(bytes.length, at + 64));
        mutated = bytes;
      }
      try {
        const c = readDicom(mutated);
        if (c.kind === 'image') for (let f = 0; f < c.pixel.frames; f++) await decodeFrame(c, f);
      } catch (e) {
        if (!(e instanceof DicomError)) unexpected.push(`${how}@${at}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    assert.deepEqual(unexpected, []);
  });
}

test('a cut or damaged compressed stream gets its own reason', async () => {
  const { decodeCompressedFrame, encapsulatedFrame } = await import('../../electron/core/dicom/codecs.ts');
  const cases = [
    ['MR_small_jp2klossless.dcm', 'jpeg-2000', /^corrupt JPEG 2000 stream \(it has no end marker: truncated\?\): the decoder produced no image$/],
    ['SC_rgb_jpeg_dcmtk.dcm', 'jpeg-8bit', /^corrupt JPEG stream \(it has no end marker: truncated\?\)/],
    ['MR_small_jpeg_ls_lossless.dcm', 'jpeg-ls', /^corrupt JPEG-LS stream \(it has no end marker: truncated\?\): the encoded bit stream contains a general structural problem$/],
    ['SC_rgb_jpeg_gdcm.dcm', 'jpeg-lossless', /^truncated JPEG Lossless stream: it has no end-of-image marker$/],
    ['MR_small_RLE.dcm', 'rle', /^corrupt RLE frame: segment \d decodes to \d+ of 4096 bytes$/],
  ] as const;
  for (const [name, encoding, reason] of cases) {
    const c = readDicom(readFileSync(join(PYDICOM_FILES, name)));
    assert.equal(c.kind, 'image');
    if (c.kind !== 'image') continue;
    const frame = encapsulatedFrame(c.parsed.dataSet, c.parsed.dataSet.elements.x7fe00010!, 0, 1);
    const shape = { rows: c.pixel.rows, columns: c.pixel.columns, samples: c.pixel.samplesPerPixel, bitsAllocated: c.pixel.bitsAllocated, photometric: c.pixel.photometric };
    await assert.rejects(decodeCompressedFrame(encoding, frame.subarray(0, Math.floor(frame.length / 3)), shape), (e: unknown) => e instanceof DicomError && reason.test(e.message), name);
  }
});
