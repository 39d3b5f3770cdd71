/**
 * On-the-fly augmentation and normalization of one cached uint8 image into the float batch: random resized crop,
 * flips, rotation (one inverse affine map, bilinear sampling), brightness and contrast jitter. Flips are off by
 * default: left and right can matter in medical images.
 */
import type { AugmentConfig, Normalization } from '../../../shared/training.ts';

export function augmentationOn(a: AugmentConfig): boolean {
  return a.cropScale > 0 || a.hflip || a.vflip || a.rotation > 0 || a.brightness > 0 || a.contrast > 0;
}

/** Plain path: bytes → (x/255 − mean)/std, channel-wise. */
export function normalizeInto(src: Uint8Array, dst: Float32Array, at: number, channels: number, norm: Normalization): void {
  const n = src.length;
  if (channels === 1) {
    const k = 1 / (255 * norm.std[0]!);
    const b = -norm.mean[0]! / norm.std[0]!;
    for (let i = 0; i < n; i++) dst[at + i] = src[i]! * k + b;
    return;
  }
  const k = norm.std.map((s) => 1 / (255 * s));
  const b = norm.mean.map((m, c) => -m / norm.std[c]!);
  for (let i = 0; i < n; i += channels) {
    for (let c = 0; c < channels; c++) dst[at + i + c] = src[i + c]! * k[c]! + b[c]!;
  }
}

/** Reused across calls (one training thread per process): augmenting an image allocates nothing. */
let scratch = new Float32Array(0);

/**
 * Augments `src` (size×size×channels) into `dst` at `at`, normalized. The sampling position and weights of an
 * output pixel are worked out once for all its channels; the arithmetic per sample is the same as a per-channel
 * formula's, so the result does not depend on how the loops are arranged (tests/unit/augment.test.ts).
 */
export function augmentInto(
  src: Uint8Array,
  dst: Float32Array,
  at: number,
  size: number,
  channels: number,
  a: AugmentConfig,
  norm: Normalization,
  random: () => number,
): void {
  // Output pixel (u, v) in [−1, 1]² maps to source coordinates by: flip, rotate, then scale/offset of the crop.
  let sx = 1;
  let sy = 1;
  let ox = 0;
  let oy = 0;
  if (a.cropScale > 0) {
    const area = a.cropScale + random() * (1 - a.cropScale);
    const logRatio = Math.log(3 / 4) + random() * (Math.log(4 / 3) - Math.log(3 / 4));
    const ratio = Math.exp(logRatio);
    sx = Math.min(1, Math.sqrt(area * ratio));
    sy = Math.min(1, Math.sqrt(area / ratio));
    ox = (random() * 2 - 1) * (1 - sx);
    oy = (random() * 2 - 1) * (1 - sy);
  }
  const fx = a.hflip && random() < 0.5 ? -1 : 1;
  const fy = a.vflip && random() < 0.5 ? -1 : 1;
  const theta = a.rotation > 0 ? ((random() * 2 - 1) * a.rotation * Math.PI) / 180 : 0;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const gain = a.brightness > 0 ? 1 + (random() * 2 - 1) * a.brightness : 1;
  const contrast = a.contrast > 0 ? 1 + (random() * 2 - 1) * a.contrast : 1;

  const n = size * size * channels;
  if (scratch.length < n) scratch = new Float32Array(n);
  const tmp = scratch;
  const half = (size - 1) / 2;
  const row = size * channels;
  let sum = 0;
  let o = 0;
  for (let y = 0; y < size; y++) {
    const v = (y - half) / half;
    for (let x = 0; x < size; x++) {
      const u = (x - half) / half;
      const fu = u * fx;
      const fv = v * fy;
      const ru = cos * fu - sin * fv;
      const rv = sin * fu + cos * fv;
      const px = (ru * sx + ox) * half + half;
      const py = (rv * sy + oy) * half + half;
      const x0 = Math.floor(px);
      const y0 = Math.floor(py);
      const wx = px - x0;
      const wy = py - y0;
      // The four neighbours: outside the image they read as 0.
      const inX0 = x0 >= 0 && x0 < size;
      const inX1 = x0 + 1 >= 0 && x0 + 1 < size;
      const inY0 = y0 >= 0 && y0 < size;
      const inY1 = y0 + 1 >= 0 && y0 + 1 < size;
      const i00 = y0 * row + x0 * channels;
      const i01 = i00 + row;
      for (let c = 0; c < channels; c++) {
        const s00 = inY0 && inX0 ? src[i00 + c]! : 0;
        const s10 = inY0 && inX1 ? src[i00 + channels + c]! : 0;
        const s01 = inY1 && inX0 ? src[i01 + c]! : 0;
        const s11 = inY1 && inX1 ? src[i01 + channels + c]! : 0;
        const val = (1 - wy) * ((1 - wx) * s00 + wx * s10) + wy * ((1 - wx) * s01 + wx * s11);
        const scaled = val * gain;
        tmp[o++] = scaled;
        sum += scaled;
      }
    }
  }
  const mean = sum / n;
  for (let i = 0, c = 0; i < n; i++) {
    let val = contrast !== 1 ? (tmp[i]! - mean) * contrast + mean : tmp[i]!;
    val = val < 0 ? 0 : val > 255 ? 255 : val;
    dst[at + i] = (val / 255 - norm.mean[c]!) / norm.std[c]!;
    if (++c === channels) c = 0;
  }
}
