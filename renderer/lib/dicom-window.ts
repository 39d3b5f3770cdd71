/**
 * The viewer's live window/level for grey DICOM images: raw samples (stored values shifted to unsigned) go through
 * the Modality LUT (rescale slope/intercept), the VOI function of the chosen window (shared/voi.ts, the same one the
 * core's thumbnails and training use) and, for MONOCHROME1, the inversion, as one 65,536-entry table. Dragging
 * changes the window as radiology viewers do: horizontal = width, vertical = center. Pure and DOM-free.
 */
import type { DicomRawMapping, DicomWindowPreset } from '../../shared/contract.ts';
import type { RawImage } from '../../shared/transport.ts';
import { voiValue, type VoiFunction } from '../../shared/voi.ts';

export interface DicomWindow {
  center: number;
  width: number;
  fn: VoiFunction;
}

/** Modality value of a raw sample. */
export function modalityValue(sample: number, m: DicomRawMapping): number {
  return (sample + m.storedMin) * m.slope + m.intercept;
}

/** Displayed grey level (0–255) of every possible raw sample. */
export function dicomLut(m: DicomRawMapping, w: DicomWindow): Uint8Array {
  const lut = new Uint8Array(65536);
  // LINEAR needs a width of at least 1, the others more than 0 (PS3.3 C.11.2.1.2).
  const width = Math.max(w.fn === 'LINEAR' ? 1 : 1e-6, w.width);
  for (let v = 0; v < 65536; v++) {
    const y = Math.round(voiValue(modalityValue(v, m), w.center, width, w.fn, 0, 255));
    const clamped = y < 0 ? 0 : y > 255 ? 255 : y;
    lut[v] = m.invert ? 255 - clamped : clamped;
  }
  return lut;
}

/** Fills `out` (RGBA) with the windowed one-channel raw image. */
export function applyDicomWindow(raw: RawImage, m: DicomRawMapping, w: DicomWindow, out: Uint8ClampedArray): void {
  const lut = dicomLut(m, w);
  const n = raw.width * raw.height;
  if (out.length < n * 4) throw new Error('output buffer too small');
  for (let p = 0, o = 0; p < n; p++, o += 4) {
    const g = lut[raw.data[p]!]!;
    out[o] = g;
    out[o + 1] = g;
    out[o + 2] = g;
    out[o + 3] = 255;
  }
}

/** The window over the image's whole range of modality values: what the pipeline does without a preset. */
export function fullRangeWindow(raw: RawImage, m: DicomRawMapping): DicomWindow {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < raw.data.length; i++) {
    const v = raw.data[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return { center: 0, width: 1, fn: 'LINEAR' };
  const a = modalityValue(lo, m);
  const b = modalityValue(hi, m);
  return { center: (a + b) / 2, width: Math.max(1, Math.abs(b - a)), fn: 'LINEAR_EXACT' };
}

/** The window shown first: the image's first preset (as thumbnails and training see it), else its full range. */
export function initialDicomWindow(presets: readonly DicomWindowPreset[], raw: RawImage, m: DicomRawMapping): DicomWindow {
  const first = presets[0];
  return first ? { center: first.center, width: first.width, fn: first.fn } : fullRangeWindow(raw, m);
}

/**
 * The window after a drag of (dx, dy) CSS pixels from `start`: right = wider, up = higher center (as the viewer's
 * 16-bit window/level), at a rate that crosses the image's own range of values in about 500 px.
 */
export function dragWindow(start: DicomWindow, dx: number, dy: number, range: number): DicomWindow {
  const rate = Math.max(range, 1) / 500;
  return { ...start, width: Math.max(1, start.width + dx * rate), center: start.center - dy * rate };
}

/** Which preset (index) a window is, or -1 when it was dragged or typed elsewhere. */
export function presetIndex(presets: readonly DicomWindowPreset[], w: DicomWindow): number {
  return presets.findIndex((p) => p.center === w.center && p.width === w.width && p.fn === w.fn);
}
