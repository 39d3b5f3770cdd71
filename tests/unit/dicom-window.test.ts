// The viewer's DICOM window (renderer/lib/dicom-window.ts): the full-range window is the pipeline's full-range
// mapping, MONOCHROME1 inverts, a drag moves width and center the way the 16-bit window/level does, and a dragged
// window is no preset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDicomWindow, dicomLut, dragWindow, fullRangeWindow, initialDicomWindow, presetIndex } from '../../renderer/lib/dicom-window.ts';
import { toGrey8 } from '../../electron/core/dicom/windowing.ts';
import type { DicomRawMapping, DicomWindowPreset } from '../../shared/contract.ts';
import type { RawImage } from '../../shared/transport.ts';

const CT: DicomRawMapping = { storedMin: -2048, slope: 1, intercept: -1024, invert: false };

function raw(values: number[]): RawImage {
  return { width: values.length, height: 1, channels: 1, bitsPerSample: 16, data: Uint16Array.from(values) };
}

function shown(r: RawImage, m: DicomRawMapping, w: Parameters<typeof dicomLut>[1]): number[] {
  const out = new Uint8ClampedArray(r.width * 4);
  applyDicomWindow(r, m, w, out);
  return Array.from({ length: r.width }, (_, i) => out[i * 4]!);
}

test('without presets the window spans the image, as the pipeline full range does, MONOCHROME1 inverted', () => {
  const samples = [2000, 2600, 3100, 3500, 4100];
  const modality = Float32Array.from(samples.map((v) => v + CT.storedMin + CT.intercept));
  for (const invert of [false, true]) {
    const m = { ...CT, invert };
    const r = raw(samples);
    const w = initialDicomWindow([], r, m);
    assert.deepEqual(w, fullRangeWindow(r, m));
    assert.deepEqual(shown(r, m, w), Array.from(toGrey8(modality, { kind: 'full-range' }, invert)));
  }
  assert.deepEqual(shown(raw([0, 65535]), { ...CT, invert: true }, { center: 0, width: 100, fn: 'LINEAR' }), [255, 0]);
});

test('the first preset is the initial window; a dragged window is no preset', () => {
  const presets: DicomWindowPreset[] = [
    { name: 'A', center: 40, width: 400, fn: 'LINEAR', source: 'tags', explanation: '' },
    { name: 'Lung', center: -600, width: 1500, fn: 'LINEAR', source: 'ct', explanation: '' },
  ];
  const start = initialDicomWindow(presets, raw([0]), CT);
  assert.deepEqual(start, { center: 40, width: 400, fn: 'LINEAR' });
  assert.equal(presetIndex(presets, start), 0);
  assert.equal(presetIndex(presets, { center: -600, width: 1500, fn: 'LINEAR' }), 1);
  // Right widens, up raises the center; 500 px cross the image's range (here 2000 HU).
  const moved = dragWindow(start, 250, -125, 2000);
  assert.deepEqual(moved, { center: 540, width: 1400, fn: 'LINEAR' });
  assert.equal(presetIndex(presets, moved), -1);
  assert.equal(dragWindow(start, -10_000, 0, 2000).width, 1, 'never narrower than 1');
});
