// The viewer's pure parts: window/level lookup over 16-bit samples, and zoom/pan arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyWindow, buildLut, sampleRange, windowFromRange } from '../../renderer/lib/window-level.ts';
import { actualSizeView, fitView, panBy, zoomAt } from '../../renderer/lib/viewport.ts';
import { decodeRaw, RAW_HEADER_BYTES } from '../../shared/transport.ts';

/** Encodes samples in the 'raw' media format, as the host sends them. */
function encodeRaw(width: number, height: number, channels: number, samples: number[]): ArrayBuffer {
  const buf = new ArrayBuffer(RAW_HEADER_BYTES + samples.length * 2);
  const v = new DataView(buf);
  'LRAW'.split('').forEach((c, i) => v.setUint8(i, c.charCodeAt(0)));
  v.setUint32(4, width, true);
  v.setUint32(8, height, true);
  v.setUint16(12, channels, true);
  v.setUint16(14, 16, true);
  samples.forEach((s, i) => v.setUint16(RAW_HEADER_BYTES + i * 2, s, true));
  return buf;
}

test('the window maps [center - width/2, center + width/2] onto 0..255 and clamps outside', () => {
  const wl = windowFromRange(1000, 3000);
  assert.deepEqual(wl, { center: 2000, width: 2000 });
  const lut = buildLut(16, wl);
  assert.equal(lut.length, 65536);
  assert.equal(lut[0], 0);
  assert.equal(lut[1000], 0);
  assert.equal(lut[2000], 128);
  assert.equal(lut[3000], 255);
  assert.equal(lut[65535], 255);
  // monotonic
  for (let i = 1; i < 65536; i += 97) assert.ok(lut[i]! >= lut[i - 1]!);
  assert.equal(windowFromRange(5, 5).width, 1, 'a flat image still gets a valid window');
});

test('a 16-bit gray image from the raw format renders to RGBA with its own range', () => {
  const raw = decodeRaw(encodeRaw(2, 2, 1, [12000, 12500, 13000, 60000]));
  assert.equal(raw.bitsPerSample, 16);
  const range = sampleRange(raw);
  assert.deepEqual(range, { min: 12000, max: 60000 });
  const out = new Uint8ClampedArray(16);
  applyWindow(raw, windowFromRange(12000, 13000), out);
  assert.deepEqual([...out], [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
  assert.throws(() => applyWindow(raw, windowFromRange(0, 1), new Uint8ClampedArray(4)));
});

test('RGB and gray+alpha channels: colour through the window, alpha scaled', () => {
  const rgb = decodeRaw(encodeRaw(1, 1, 3, [0, 32768, 65535]));
  const out = new Uint8ClampedArray(4);
  applyWindow(rgb, windowFromRange(0, 65535), out);
  assert.deepEqual([...out], [0, 128, 255, 255]);
  const ga = decodeRaw(encodeRaw(1, 1, 2, [65535, 0]));
  applyWindow(ga, windowFromRange(0, 65535), out);
  assert.deepEqual([...out], [255, 255, 255, 0]);
  assert.deepEqual(sampleRange(ga), { min: 65535, max: 65535 }, 'alpha is not part of the range');
});

test('fit centres the image, zoom keeps the point under the cursor, pan moves', () => {
  const fit = fitView(1000, 500, 532, 532, 16); // 500 px available -> scale 0.5
  assert.equal(fit.scale, 0.5);
  assert.equal(fit.x, 16);
  assert.equal(fit.y, (532 - 250) / 2);
  const tiny = fitView(28, 28, 600, 600);
  assert.ok(tiny.scale > 10, 'small images are enlarged to fit');
  const z = zoomAt(fit, 2, 200, 100);
  // the image point under the cursor before and after is the same
  const before = { x: (200 - fit.x) / fit.scale, y: (100 - fit.y) / fit.scale };
  const after = { x: (200 - z.x) / z.scale, y: (100 - z.y) / z.scale };
  assert.ok(Math.abs(before.x - after.x) < 1e-9 && Math.abs(before.y - after.y) < 1e-9);
  assert.equal(zoomAt(fit, 1e9, 0, 0).scale, 64, 'zoom is clamped');
  assert.deepEqual(panBy(z, 10, -5), { scale: z.scale, x: z.x + 10, y: z.y - 5 });
  assert.deepEqual(actualSizeView(100, 50, 300, 300), { scale: 1, x: 100, y: 125 });
});
