/**
 * PALETTE COLOR (PS3.3 C.7.6.3.1.5-6): stored values are indices into red, green and blue lookup tables.
 */
import type { DataSet } from 'dicom-parser';
import { DicomError } from './parse.ts';
import type { StoredArray } from './pixels.ts';
import { readLut, type Lut } from './windowing.ts';

export interface Palette {
  red: Lut;
  green: Lut;
  blue: Lut;
}

export function readPalette(ds: DataSet): Palette {
  if (ds.elements.x00281221 || ds.elements.x00281222 || ds.elements.x00281223) {
    throw new DicomError('segmented palette colour lookup tables are not supported yet');
  }
  const red = readLut(ds, 'x00281101', 'x00281201', '');
  const green = readLut(ds, 'x00281102', 'x00281202', '');
  const blue = readLut(ds, 'x00281103', 'x00281203', '');
  if (!red || !green || !blue) throw new DicomError('PALETTE COLOR image without a complete red/green/blue palette (0028,1101–1203)');
  return { red, green, blue };
}

/** Indices to 8-bit RGB, pixel-interleaved; indices outside the table clamp to its ends. */
export function applyPalette(indices: StoredArray, p: Palette): Uint8Array {
  const out = new Uint8Array(indices.length * 3);
  const luts = [p.red, p.green, p.blue];
  for (let c = 0; c < 3; c++) {
    const lut = luts[c]!;
    const scale = 255 / (2 ** lut.bits - 1);
    const last = lut.data.length - 1;
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]! - lut.firstMapped;
      out[3 * i + c] = Math.round(lut.data[k < 0 ? 0 : k > last ? last : k]! * scale);
    }
  }
  return out;
}
