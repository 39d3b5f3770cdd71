/**
 * The WebAssembly codecs load from their packages on disk: no fetch, no network, under plain Node (the desktop app
 * and the CLI run offline). Each decodes a pydicom test file to the size its header says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrame, readDicom } from '../../electron/core/dicom/image.ts';
import { PYDICOM_FILES, loadReference } from '../helpers/dicom-reference.ts';

loadReference();

test('JPEG (8- and 12-bit), JPEG-LS, JPEG 2000 and JPEG Lossless decode without any fetch', async () => {
  const realFetch = globalThis.fetch;
  let fetched = 0;
  globalThis.fetch = (() => {
    fetched++;
    throw new Error('no network');
  }) as typeof fetch;
  try {
    for (const name of ['SC_rgb_jpeg_dcmtk.dcm', 'JPEG-lossy.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_jp2klossless.dcm', 'SC_rgb_jpeg_gdcm.dcm']) {
      const c = readDicom(readFileSync(join(PYDICOM_FILES, name)));
      assert.equal(c.kind, 'image', name);
      if (c.kind !== 'image') continue;
      const f = await decodeFrame(c, 0);
      assert.equal(f.values.length, c.pixel.rows * c.pixel.columns * f.samples, name);
    }
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.equal(fetched, 0);
});
