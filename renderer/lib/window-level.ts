/**
 * Window/level for the viewer: maps raw samples (8 or 16-bit, 1–4 channels) to 8-bit RGBA through a
 * lookup table, the way radiology viewers do. Pure and DOM-free (tested in Node); the viewer puts the
 * result in an ImageData.
 */
import type { RawImage } from '../../shared/transport.ts';

export interface WindowLevel {
  /** Centre of the window, in sample units. */
  center: number;
  /** Width of the window, in sample units (≥ 1). */
  width: number;
}

/** The window that spans `[min, max]`: the "reset" of the viewer. */
export function windowFromRange(min: number, max: number): WindowLevel {
  const lo = Math.min(min, max);
  const hi = Math.max(min, max);
  return { center: (lo + hi) / 2, width: Math.max(1, hi - lo) };
}

/** Smallest and largest sample over the colour channels (alpha ignored). */
export function sampleRange(raw: RawImage): { min: number; max: number } {
  const { data, channels } = raw;
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < colour; c++) {
      const v = data[i + c]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) return { min: 0, max: raw.bitsPerSample === 16 ? 65535 : 255 };
  return { min, max };
}

/** A table from every possible sample value to its displayed 8-bit value. */
export function buildLut(bits: 8 | 16, wl: WindowLevel): Uint8Array {
  const size = bits === 16 ? 65536 : 256;
  const lut = new Uint8Array(size);
  const width = Math.max(1, wl.width);
  const lo = wl.center - width / 2;
  const scale = 255 / width;
  for (let v = 0; v < size; v++) {
    const y = (v - lo) * scale;
    lut[v] = y <= 0 ? 0 : y >= 255 ? 255 : Math.round(y);
  }
  return lut;
}

/** Fills `out` (RGBA, width*height*4) with the windowed image. */
export function applyWindow(raw: RawImage, wl: WindowLevel, out: Uint8ClampedArray): void {
  const lut = buildLut(raw.bitsPerSample, wl);
  const { data, channels } = raw;
  const n = raw.width * raw.height;
  if (out.length < n * 4) throw new Error('output buffer too small');
  const alphaMax = raw.bitsPerSample === 16 ? 65535 : 255;
  for (let p = 0, i = 0, o = 0; p < n; p++, i += channels, o += 4) {
    if (channels >= 3) {
      out[o] = lut[data[i]!]!;
      out[o + 1] = lut[data[i + 1]!]!;
      out[o + 2] = lut[data[i + 2]!]!;
      out[o + 3] = channels === 4 ? Math.round((data[i + 3]! / alphaMax) * 255) : 255;
    } else {
      const g = lut[data[i]!]!;
      out[o] = g;
      out[o + 1] = g;
      out[o + 2] = g;
      out[o + 3] = channels === 2 ? Math.round((data[i + 1]! / alphaMax) * 255) : 255;
    }
  }
}
