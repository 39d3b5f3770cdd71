/**
 * The DICOM windowing a run trains with (issue 11): each choice gives the grey levels its definition says, on
 * real slices made from pydicom's CT_small.dcm (tests/fixtures/dicom/make-identified.py), and the tensor cache
 * keeps each choice apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDicomWindow, type DicomWindow } from '../../shared/training.ts';
import { decodeForModel, type InputShape } from '../../electron/core/images/model-input.ts';
import { decodeFrame, readDicom } from '../../electron/core/dicom/image.ts';
import { applyModalityLut } from '../../electron/core/dicom/windowing.ts';
import { CT_PRESETS } from '../../electron/core/dicom/presets.ts';
import { presetKey } from '../../shared/dicom-presets.ts';
import { cacheKey } from '../../electron/core/training/tensor-cache.ts';
import { ProbeError } from '../../electron/core/import/probe.ts';
import { parsePreprocessing } from '../../electron/core/training/model-folder.ts';

const FILE = join(import.meta.dirname, '..', 'fixtures', 'dicom', 'identified', 'scans', 'effusion', 'Quarnby_Elspeth_QX-88123_02.dcm');
const buf = readFileSync(FILE);
// 32×32 at 32: no resampling, so each model input byte is the windowed value of one pixel.
const shape = (w?: DicomWindow): InputShape => ({ imageSize: 32, channels: 1, resize: 'squash', ...(w ? { dicomWindow: w } : {}) });
const decode = async (text?: string) => [...(await decodeForModel(buf, shape(text ? parseDicomWindow(text)! : undefined), { min: null, max: null }, 1e8)).pixels];

/** PS3.3 C.11.2.1.2.1 LINEAR, rounded and clamped to 0..255. */
function linear(x: number, c: number, w: number): number {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return Math.min(255, Math.max(0, Math.round(((x - (c - 0.5)) / (w - 1) + 0.5) * 255)));
}

async function hounsfield(): Promise<Float32Array> {
  const img = readDicom(buf);
  assert.equal(img.kind, 'image');
  if (img.kind !== 'image') throw new Error('not an image');
  return applyModalityLut((await decodeFrame(img, 0)).values, img.modality);
}

test('the text forms parse to their choice, and bad ones are refused', () => {
  assert.deepEqual(parseDicomWindow('tags'), { kind: 'tags' });
  assert.deepEqual(parseDicomWindow('full'), { kind: 'full' });
  assert.deepEqual(parseDicomWindow('preset:lung'), { kind: 'preset', name: 'lung' });
  assert.deepEqual(parseDicomWindow('-600,1500'), { kind: 'fixed', center: -600, width: 1500 });
  for (const bad of ['', 'preset:', 'preset:../x', '40', '40,0', '40,-5', 'window', `preset:${'a'.repeat(65)}`]) assert.equal(parseDicomWindow(bad), null, bad);
});

test('tags, fixed, CT preset, tag preset by index or explanation, and full range each window as defined', async () => {
  const hu = await hounsfield();
  const expectWindow = (c: number, w: number) => [...hu].map((x) => linear(x, c, w));
  const tags = await decode();
  // The image's first window (40/400, "SOFT TISSUE") is the default, and the same as naming it.
  assert.deepEqual(tags, expectWindow(40, 400));
  assert.deepEqual(await decode('tags'), tags);
  assert.deepEqual(await decode('40,400'), tags);
  assert.deepEqual(await decode('preset:1'), tags);
  assert.deepEqual(await decode('preset:soft tissue'), tags);
  // The tags' own lung window (−500/1400) is not the CT lung preset (−600/1500).
  const lungTag = await decode('preset:LUNG WINDOW');
  assert.deepEqual(lungTag, expectWindow(-500, 1400));
  assert.deepEqual(await decode('preset:2'), lungTag);
  const lung = CT_PRESETS.find((p) => presetKey(p.name) === 'lung')!;
  const ctLung = await decode('preset:lung');
  assert.deepEqual(ctLung, expectWindow(lung.center, lung.width));
  assert.notDeepEqual(ctLung, lungTag);
  assert.notDeepEqual(ctLung, tags);
  // Full: everything 16 signed stored bits can hold, through the intercept (−1024): −33792…31743 HU, linearly.
  const full = await decode('full');
  assert.deepEqual(full, [...hu].map((x) => Math.round(((x + 33792) / 65535) * 255)));
});

test('a preset the image lacks is a clear per-image error, not a silent fallback', async () => {
  await assert.rejects(decode('preset:MEDIASTINUM'), (e: Error) => e instanceof ProbeError && /no window preset "MEDIASTINUM" in this image \(its windows: 1 \(SOFT TISSUE\), 2 \(LUNG WINDOW\)/.test(e.message));
  await assert.rejects(decode('preset:3'), /no window preset "3"/);
});

test('the tensor cache key tells windowing choices apart; the default keeps the key caches had before', () => {
  const base = cacheKey({ imageSize: 32, channels: 1, resize: 'squash' });
  assert.equal(cacheKey(shape({ kind: 'tags' })), base);
  const keys = ['full', 'preset:lung', 'preset:bone', '40,400', '40,401'].map((t) => cacheKey(shape(parseDicomWindow(t)!)));
  assert.equal(new Set([base, ...keys]).size, 6);
});

test("a bundle's preprocessing.json: the windowing is schema-checked and bounded", () => {
  const base = { imageSize: 32, channels: 1, resize: 'squash', normalization: { mean: [0.5], std: [0.2] } };
  assert.deepEqual(parsePreprocessing({ ...base, dicomWindow: { kind: 'preset', name: 'lung' } }).dicomWindow, { kind: 'preset', name: 'lung' });
  assert.equal(parsePreprocessing(base).dicomWindow, undefined, 'bundles made before the setting: the tags');
  const bad = [{ kind: 'fixed', center: 1e9, width: 10 }, { kind: 'fixed', center: 0, width: 0 }, { kind: 'preset', name: '../x' }, { kind: 'preset', name: 'a'.repeat(65) }, { kind: 'lut' }, 'tags', { kind: 'tags', extra: 1 }];
  for (const w of bad) assert.throws(() => parsePreprocessing({ ...base, dicomWindow: w }), /preprocessing\.json is not valid/, JSON.stringify(w));
});
