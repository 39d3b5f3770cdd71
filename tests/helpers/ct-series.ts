/**
 * Small CT series for browse/viewer/split tests: 16-bit slices in Hounsfield units (rescale intercept −1024), two
 * window presets in the tags (soft tissue, lung), one patient per folder. A body disc with lungs, a spine, and a
 * bright "lesion" spot where `lesion` is set, so a classifier has something to learn. Written with dicom-writer,
 * so tests need no Python.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { part10, pixelData, pixelTags, type El } from './dicom-writer.ts';

export interface CtPatient {
  /** Patient ID in the headers (an identifier no export may carry). */
  id: string;
  name: string;
  /** Folder the patient's slices go into, relative to the root (e.g. `lesion/p01`). */
  folder: string;
  lesion: boolean;
  slices: number;
  /** Default 'AXIAL'-less CT; other modalities reuse the same pixels. */
  modality?: string;
  bodyPart?: string;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
}

const SIZE = 48;

/** Hounsfield units of slice `z` of a patient. */
function sliceHu(p: CtPatient, z: number): Int16Array {
  const hu = new Int16Array(SIZE * SIZE).fill(-1000);
  const c = SIZE / 2;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const r = Math.hypot(x - c, y - c);
      let v = -1000;
      if (r < 20) v = 40 + ((x * 7 + y * 3 + z) % 11) - 5;
      if (Math.hypot(x - c + 8, y - c + 2) < 6 || Math.hypot(x - c - 8, y - c + 2) < 6) v = -820;
      if (Math.hypot(x - c, y - c - 12) < 3) v = 900;
      if (p.lesion && Math.hypot(x - c - 8, y - c + 2 - (z % 3)) < 3) v = 60;
      hu[y * SIZE + x] = v;
    }
  }
  return hu;
}

function uid(...parts: (string | number)[]): string {
  return `1.2.826.0.1.3680043.10.1234.${parts.join('.')}`;
}

/** One slice as a Part 10 file (explicit VR little endian). */
export function ctSlice(p: CtPatient, z: number, index: number): Buffer {
  const hu = sliceHu(p, z);
  const stored = new Uint16Array(hu.length);
  for (let i = 0; i < hu.length; i++) stored[i] = hu[i]! + 1024;
  // MONOCHROME1 as a CR writes it: dense tissue low (white once displayed), air high; windows in those units.
  const mono1 = p.photometric === 'MONOCHROME1';
  if (mono1) for (let i = 0; i < stored.length; i++) stored[i] = 4095 - stored[i]!;
  const pn = Number(p.id.replace(/\D/g, '')) || index;
  const els: El[] = [
    ...pixelTags({ rows: SIZE, columns: SIZE, bits: 16, stored: 12, photometric: p.photometric ?? 'MONOCHROME2' }).filter(
      (e) => e.tag !== 0x00080016 && e.tag !== 0x00080018,
    ),
    { tag: 0x00080005, vr: 'CS', value: 'ISO_IR 100' },
    { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
    { tag: 0x00080018, vr: 'UI', value: uid(pn, 1, z) },
    { tag: 0x00080020, vr: 'DA', value: '20240115' },
    { tag: 0x00080060, vr: 'CS', value: p.modality ?? 'CT' },
    { tag: 0x00080070, vr: 'LO', value: 'Loupe Test Scanner' },
    { tag: 0x0008103e, vr: 'LO', value: `${p.bodyPart ?? 'CHEST'} axial` },
    { tag: 0x00100010, vr: 'PN', value: p.name },
    { tag: 0x00100020, vr: 'LO', value: p.id },
    { tag: 0x00180015, vr: 'CS', value: p.bodyPart ?? 'CHEST' },
    { tag: 0x0020000d, vr: 'UI', value: uid(pn, 1) },
    { tag: 0x0020000e, vr: 'UI', value: uid(pn, 1, 1) },
    { tag: 0x00200013, vr: 'IS', value: String(z + 1) },
    { tag: 0x00281050, vr: 'DS', value: mono1 ? '3031\\3671' : '40\\-600' },
    { tag: 0x00281051, vr: 'DS', value: '400\\1500' },
    { tag: 0x00281052, vr: 'DS', value: mono1 ? '0' : '-1024' },
    { tag: 0x00281053, vr: 'DS', value: '1' },
    { tag: 0x00281055, vr: 'LO', value: 'SOFT TISSUE\\LUNG' },
    pixelData(new Uint8Array(stored.buffer)),
  ];
  return part10(els);
}

/** Writes every patient's slices (no extension, as PACS exports often are); returns the files written. */
export function writeCtSeries(root: string, patients: readonly CtPatient[]): string[] {
  const files: string[] = [];
  patients.forEach((p, pi) => {
    const dir = join(root, p.folder);
    mkdirSync(dir, { recursive: true });
    for (let z = 0; z < p.slices; z++) {
      const file = join(dir, `IM${String(z + 1).padStart(4, '0')}`);
      writeFileSync(file, ctSlice(p, z, pi + 1));
      files.push(file);
    }
  });
  return files;
}
