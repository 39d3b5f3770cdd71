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
