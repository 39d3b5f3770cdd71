// Augmentation (electron/core/training/augment.ts) against the per-sample formula it implements, written out
// plainly here: random resized crop, flips, rotation with bilinear sampling (zero outside), brightness, contrast
// around the image mean, then normalization. The product's loops share work across channels and allocate
// nothing; they must give exactly these numbers for the same random draws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentInto } from '../../electron/core/training/augment.ts';
import { seededRandom } from '../../shared/random.ts';
import type { AugmentConfig, Normalization } from '../../shared/training.ts';

function reference(src: Uint8Array, size: number, channels: number, a: AugmentConfig, norm: Normalization, random: () => number): Float32Array {
  let [sx, sy, ox, oy] = [1, 1, 0, 0];
  if (a.cropScale > 0) {
    const area = a.cropScale + random() * (1 - a.cropScale);
    const ratio = Math.exp(Math.log(3 / 4) + random() * (Math.log(4 / 3) - Math.log(3 / 4)));
    sx = Math.min(1, Math.sqrt(area * ratio));
    sy = Math.min(1, Math.sqrt(area / ratio));
    ox = (random() * 2 - 1) * (1 - sx);
    oy = (random() * 2 - 1) * (1 - sy);
  }
  const fx = a.hflip && random() < 0.5 ? -1 : 1;
  const fy = a.vflip && random() < 0.5 ? -1 : 1;
  const theta = a.rotation > 0 ? ((random() * 2 - 1) * a.rotation * Math.PI) / 180 : 0;
  const gain = a.brightness > 0 ? 1 + (random() * 2 - 1) * a.brightness : 1;
  const contrast = a.contrast > 0 ? 1 + (random() * 2 - 1) * a.contrast : 1;
  const half = (size - 1) / 2;
  const at = (x: number, y: number, c: number) => (x < 0 || y < 0 || x >= size || y >= size ? 0 : src[(y * size + x) * channels + c]!);
  const tmp = new Float32Array(size * size * channels);
  let sum = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const fu = ((x - half) / half) * fx;
      const fv = ((y - half) / half) * fy;
      const px = ((Math.cos(theta) * fu - Math.sin(theta) * fv) * sx + ox) * half + half;
      const py = ((Math.sin(theta) * fu + Math.cos(theta) * fv) * sy + oy) * half + half;
      const [x0, y0] = [Math.floor(px), Math.floor(py)];
      const [wx, wy] = [px - x0, py - y0];
      for (let c = 0; c < channels; c++) {
        const val = (1 - wy) * ((1 - wx) * at(x0, y0, c) + wx * at(x0 + 1, y0, c)) + wy * ((1 - wx) * at(x0, y0 + 1, c) + wx * at(x0 + 1, y0 + 1, c));
        tmp[(y * size + x) * channels + c] = val * gain;
        sum += val * gain;
      }
    }
  }
  const mean = sum / tmp.length;
  return tmp.map((t, i) => {
    const c = i % channels;
    const v = Math.min(255, Math.max(0, contrast !== 1 ? (t - mean) * contrast + mean : t));
    return (v / 255 - norm.mean[c]!) / norm.std[c]!;
  });
}

const configs: AugmentConfig[] = [
  { cropScale: 0.85, hflip: false, vflip: false, rotation: 10, brightness: 0.1, contrast: 0 },
  { cropScale: 0.5, hflip: true, vflip: true, rotation: 30, brightness: 0.2, contrast: 0.3 },
  { cropScale: 0, hflip: true, vflip: false, rotation: 0, brightness: 0, contrast: 0.5 },
];

for (const channels of [1, 3]) {
  test(`augmentation equals the per-sample formula (${channels} channel${channels > 1 ? 's' : ''}, several sizes and settings)`, () => {
    const norm: Normalization = channels === 1 ? { mean: [0.4], std: [0.3] } : { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
    for (const size of [7, 28, 33]) {
      const pixels = seededRandom(size);
      const src = Uint8Array.from({ length: size * size * channels }, () => Math.floor(pixels() * 256));
      for (const [k, a] of configs.entries()) {
        for (let draw = 0; draw < 5; draw++) {
          const seed = 1000 * k + draw;
          const want = reference(src, size, channels, a, norm, seededRandom(seed));
          // Written at an offset inside a bigger batch buffer, after a bigger image used the scratch space.
          const dst = new Float32Array(want.length + 10).fill(-7);
          augmentInto(src, dst, 5, size, channels, a, norm, seededRandom(seed));
          assert.deepEqual([...dst.subarray(0, 5), ...dst.subarray(5 + want.length)], new Array(10).fill(-7), 'nothing written outside');
          assert.deepEqual(dst.subarray(5, 5 + want.length), want, `size ${size}, config ${k}, draw ${draw}`);
        }
      }
    }
  });
}
