/**
 * From stored values to what a person sees (PS3.3 C.11): the Modality LUT (rescale slope/intercept, or a Modality
 * LUT Sequence) gives modality values (e.g. CT Hounsfield units); the VOI LUT (a window with its LINEAR,
 * LINEAR_EXACT or SIGMOID function, or a VOI LUT Sequence) maps them to display grey levels; MONOCHROME1 is then
 * inverted, so that display and training both see bright bone on a dark background.
 */
import type { DataSet } from 'dicom-parser';
import type { StoredArray } from './pixels.ts';
import { voiValue, type VoiFunction } from '../../../shared/voi.ts';

export { voiValue, type VoiFunction };

/** A lookup table (PS3.3 C.11.1.1.1): input `firstMapped` maps to data[0]; inputs outside clamp to the ends. */
export interface Lut {
  firstMapped: number;
  bits: number;
  data: Uint16Array;
  explanation: string;
}

export interface ModalityLut {
  slope: number;
  intercept: number;
  lut: Lut | null;
}

export interface WindowPreset {
  center: number;
  width: number;
  fn: VoiFunction;
  explanation: string;
}

/** How to map modality values to grey levels. */
export type VoiChoice =
  | { kind: 'window'; center: number; width: number; fn: VoiFunction }
  | { kind: 'lut'; lut: Lut }
  | { kind: 'full-range' };

export const IDENTITY_MODALITY: ModalityLut = { slope: 1, intercept: 0, lut: null };

/** Reads a LUT item (descriptor, data, explanation) with the given tags; null when absent or malformed. */
export function readLut(ds: DataSet, descriptorTag: string, dataTag: string, explanationTag: string): Lut | null {
  const desc = ds.elements[descriptorTag];
  const data = ds.elements[dataTag];
  if (!desc || !data || desc.length < 6) return null;
  const entries = ds.uint16(descriptorTag, 0) || 65536;
  // The first mapped value is US or SS depending on the pixel representation; read it as the descriptor's VR says.
  const firstRaw = ds.uint16(descriptorTag, 1) ?? 0;
  const firstMapped = desc.vr === 'SS' ? (firstRaw >= 32768 ? firstRaw - 65536 : firstRaw) : firstRaw;
  const bits = ds.uint16(descriptorTag, 2) ?? 16;
  if (bits < 1 || bits > 16) return null;
  const table = new Uint16Array(entries);
  const wordBytes = data.length >= entries * 2 ? 2 : 1;
  if (data.length < entries * wordBytes) return null;
  for (let i = 0; i < entries; i++) table[i] = wordBytes === 2 ? ds.uint16(dataTag, i) ?? 0 : ds.byteArray[data.dataOffset + i]!;
  return { firstMapped, bits, data: table, explanation: ds.string(explanationTag)?.trim() ?? '' };
}

function firstItem(ds: DataSet, tag: string): DataSet | null {
  return ds.elements[tag]?.items?.[0]?.dataSet ?? null;
}

/** The modality LUT of the image: rescale slope/intercept (default 1/0), or a Modality LUT Sequence. */
export function readModalityLut(ds: DataSet): ModalityLut {
  const item = firstItem(ds, 'x00283000');
  const lut = item ? readLut(item, 'x00283002', 'x00283006', 'x00283003') : null;
  const slope = ds.floatString('x00281053');
  const intercept = ds.floatString('x00281052');
  return {
    slope: slope !== undefined && Number.isFinite(slope) && slope !== 0 ? slope : 1,
    intercept: intercept !== undefined && Number.isFinite(intercept) ? intercept : 0,
    lut,
  };
}

function lookup(lut: Lut, x: number): number {
  const i = Math.round(x) - lut.firstMapped;
  return lut.data[i < 0 ? 0 : i >= lut.data.length ? lut.data.length - 1 : i]!;
}

/** Modality values of stored values, as Float32Array (rescale can make them fractional). */
export function applyModalityLut(values: StoredArray, m: ModalityLut): Float32Array {
  const out = new Float32Array(values.length);
  if (m.lut) {
    for (let i = 0; i < values.length; i++) out[i] = lookup(m.lut, values[i]!);
  } else {
    for (let i = 0; i < values.length; i++) out[i] = values[i]! * m.slope + m.intercept;
  }
  return out;
}

function parseFunction(value: string | undefined): VoiFunction {
  const v = value?.trim().toUpperCase();
  return v === 'LINEAR_EXACT' || v === 'SIGMOID' ? v : 'LINEAR';
}

/** Every window the image's tags offer (all Window Center/Width pairs, with their explanations), in order. */
export function readWindowPresets(ds: DataSet): WindowPreset[] {
  const n = Math.min(ds.numStringValues('x00281050') ?? 0, ds.numStringValues('x00281051') ?? 0);
  const fn = parseFunction(ds.string('x00281056'));
  const presets: WindowPreset[] = [];
  for (let i = 0; i < n; i++) {
    const center = ds.floatString('x00281050', i);
    const width = ds.floatString('x00281051', i);
    if (center === undefined || width === undefined || !Number.isFinite(center) || !Number.isFinite(width)) continue;
    // LINEAR needs width ≥ 1, the others width > 0 (PS3.3 C.11.2.1.2): skip presets that cannot be applied.
    if (fn === 'LINEAR' ? width < 1 : width <= 0) continue;
    // Fewer explanations than windows is common; dicom-parser throws on a missing value index.
    const explanation = i < (ds.numStringValues('x00281055') ?? 0) ? (ds.string('x00281055', i)?.trim() ?? '') : '';
    presets.push({ center, width, fn, explanation });
  }
  return presets;
}

/** Every VOI LUT of the VOI LUT Sequence. */
export function readVoiLuts(ds: DataSet): Lut[] {
  const items = ds.elements.x00283010?.items ?? [];
  return items.flatMap((it) => {
    const lut = it.dataSet ? readLut(it.dataSet, 'x00283002', 'x00283006', 'x00283003') : null;
    return lut ? [lut] : [];
  });
}

/** The default VOI of an image: its first window, else its first VOI LUT, else the full range of its values. */
export function defaultVoi(presets: readonly WindowPreset[], luts: readonly Lut[]): VoiChoice {
  const w = presets[0];
  if (w) return { kind: 'window', center: w.center, width: w.width, fn: w.fn };
  const lut = luts[0];
  if (lut) return { kind: 'lut', lut };
  return { kind: 'full-range' };
}

function minMax(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * Modality values to 8-bit grey levels with the chosen VOI, inverted for MONOCHROME1 (PS3.3 C.7.6.3.1.2: the
 * minimum value is white).
 */
export function toGrey8(values: Float32Array, voi: VoiChoice, monochrome1: boolean): Uint8Array {
  const out = new Uint8Array(values.length);
  let map: (x: number) => number;
  if (voi.kind === 'window') {
    map = (x) => voiValue(x, voi.center, voi.width, voi.fn, 0, 255);
  } else if (voi.kind === 'lut') {
    const scale = 255 / (2 ** voi.lut.bits - 1);
    map = (x) => lookup(voi.lut, x) * scale;
  } else {
    const [lo, hi] = minMax(values);
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    map = (x) => (x - lo) * scale;
  }
  for (let i = 0; i < values.length; i++) {
    const y = Math.round(map(values[i]!));
    const clamped = y < 0 ? 0 : y > 255 ? 255 : y;
    out[i] = monochrome1 ? 255 - clamped : clamped;
  }
  return out;
}

/** RGB values of `bits` bits to 8-bit (colour images have no VOI LUT: PS3.3 C.11.2). */
export function rgbTo8(values: StoredArray, bits: number): Uint8Array {
  if (bits === 8 && values instanceof Uint8Array) return values;
  const scale = 255 / (2 ** bits - 1);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.round(values[i]! * scale);
  return out;
}

/** Largest stored-value span turned into a lookup table (16-bit data spans at most 65,536 values). */
const MAX_TABLE = 1 << 17;

/**
 * Stored values to 8-bit grey levels: the Modality LUT, the VOI and MONOCHROME1's inversion in one pass, through a
 * table over the frame's range of stored values when that range is small (every 8–16-bit image), so each pixel
 * costs a lookup instead of the float pipeline. The same result as toGrey8(applyModalityLut(values)), byte for byte.
 */
export function storedToGrey8(values: StoredArray, modality: ModalityLut, voi: VoiChoice, monochrome1: boolean): Uint8Array {
  const [lo, hi] = minMax(values);
  // The full-range VOI depends on which values occur, not only their span: left to the general path.
  if (voi.kind === 'full-range' || hi - lo + 1 > MAX_TABLE) return toGrey8(applyModalityLut(values, modality), voi, monochrome1);
  const span = Int32Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const table = toGrey8(applyModalityLut(span, modality), voi, monochrome1);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = table[values[i]! - lo]!;
  return out;
}
