/**
 * One frame of a multi-frame file as a single-frame instance (issue 11): in a Loupe project each frame is an image
 * of its own, with its own label and split, so `--format dicom` writes each as its own file, holding that frame's
 * pixels only and no attribute that still describes the frames it no longer holds (PS3.3 C.7.6.6 Multi-frame,
 * C.7.6.16 Multi-frame Functional Groups, C.8.8.3 RT Dose).
 *
 * This module says what changes at the top level of the data set; deidentify.ts applies it while it writes, so
 * the profile still acts on everything kept (the per-frame functional group item included).
 *
 * Encapsulated pixel data is not decoded: the frame's compressed bytes are copied into one fragment of their own,
 * after an empty Basic Offset Table. That is safe because they are found by the same rule the decoder uses
 * (codecs.ts encapsulatedFrame: the offset table, one fragment per frame, or one codestream start per frame — it
 * refuses anything else, and then the frame could not have been imported either); a frame may always be a single
 * fragment (PS3.5 A.4), RLE even requires it (PS3.5 G.2), and lossless data stays bit for bit what it was.
 */
import type { DataSet, Element } from 'dicom-parser';
import { encapsulatedFrame } from './codecs.ts';
import { nativeFrameBits, type PixelModule } from './pixels.ts';
import { DicomError, type ParsedDicom } from './parse.ts';
import { elementKey } from './tag-key.ts';
import type { OutElement } from './write.ts';

/** A top-level replacement: raw bytes in the source's byte order (the writer swaps big endian), encapsulated pixel
 * data, the one item of a sequence to keep (the profile still acts in it), a sequence made here and written as it
 * is (its UIDs are remapped already: the profile would remap them again), or null to drop the attribute. */
export type FrameReplacement =
  | { kind: 'bytes'; vr: string; bytes: Uint8Array }
  | { kind: 'encapsulated'; bytes: Uint8Array }
  | { kind: 'item'; dataSet: DataSet }
  | { kind: 'items'; items: OutElement[][] }
  | null;

const NUMBER_OF_FRAMES = 0x00280008;
const REPRESENTATIVE_FRAME_NUMBER = 0x00286010;
const PER_FRAME_FUNCTIONAL_GROUPS = 0x52009230;
const EXTENDED_OFFSET_TABLE = 0x7fe00001;
const EXTENDED_OFFSET_TABLE_LENGTHS = 0x7fe00002;
const PIXEL_DATA = 0x7fe00010;
const IMAGE_POSITION_PATIENT = 0x00200032;
const IMAGE_ORIENTATION_PATIENT = 0x00200037;
const GRID_FRAME_OFFSET_VECTOR = 0x3004000c;

/** Attributes with one value per frame (the targets a Frame Increment Pointer may name): the frame's value kept. */
const FRAME_TIME_VECTOR = 0x00181065;
const TEXT_VECTORS = [FRAME_TIME_VECTOR, 0x00182002, 0x00182003, 0x00182004, 0x00182005, 0x00182006];
/**
 * NM's vectors (PS3.3 C.8.4.9: Energy Window, Detector, Phase, Rotation, R-R Interval, Time Slot, Slice, Angular
 * View, Time Slice) are indexes, each value at most its count (Number of Energy Windows, of Detectors…) and an item
 * of the matching information sequence. The frame's entry keeps pointing at the same window or detector only if the
 * counts and sequences stay whole, so they do: cutting them to one item would need every index renumbered to 1
 * and would drop what the frame's neighbours were, for no gain in validity.
 */
const US_VECTORS = [0x00540010, 0x00540020, 0x00540030, 0x00540050, 0x00540060, 0x00540070, 0x00540080, 0x00540090, 0x00540100];

function raw(ds: DataSet, el: Element): Uint8Array {
  return ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
}

function textValues(ds: DataSet, el: Element): string[] {
  return Buffer.from(raw(ds, el)).toString('latin1').replace(/[\0 ]+$/, '').split('\\').map((v) => v.trim());
}

function text(vr: string, value: string): FrameReplacement {
  return { kind: 'bytes', vr, bytes: Buffer.from(value, 'latin1') };
}

/** Bits [start, start + count) of LSB-first packed 1-bit data (PS3.5 8.1.1), from bit 0 of the result. */
function bitSlice(bytes: Uint8Array, start: number, count: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(count / 8));
  for (let i = 0; i < count; i++) {
    const s = start + i;
    if ((bytes[s >>> 3]! >>> (s & 7)) & 1) out[i >>> 3]! |= 1 << (i & 7);
  }
  return out;
}

function even(bytes: Uint8Array): Uint8Array {
  if (bytes.length % 2 === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function encapsulated(frame: Uint8Array): Uint8Array {
  const body = even(frame);
  const out = Buffer.alloc(8 + 8 + body.length + 8);
  const item = (at: number, tag: number, length: number) => {
    out.writeUInt16LE(0xfffe, at);
    out.writeUInt16LE(tag, at + 2);
    out.writeUInt32LE(length, at + 4);
  };
  item(0, 0xe000, 0); // an empty Basic Offset Table: one frame starts at the first fragment
  item(8, 0xe000, body.length);
  out.set(body, 16);
  item(16 + body.length, 0xe0dd, 0); // the sequence delimiter
  return out;
}

function pixelReplacement(parsed: ParsedDicom, pixel: PixelModule, index: number): FrameReplacement {
  const ds = parsed.dataSet;
  const el = ds.elements.x7fe00010;
  if (!el) throw new DicomError('no pixel data');
  if (parsed.syntax.encoding !== 'native') return { kind: 'encapsulated', bytes: encapsulated(encapsulatedFrame(ds, el, index, pixel.frames)) };
  const bits = nativeFrameBits(pixel);
  const all = raw(ds, el);
  const frame = bits % 8 === 0 ? all.subarray((bits / 8) * index, (bits / 8) * (index + 1)) : bitSlice(all, bits * index, bits);
  return { kind: 'bytes', vr: el.vr ?? (pixel.bitsAllocated > 8 ? 'OW' : 'OB'), bytes: even(frame) };
}

/**
 * RT Dose's Grid Frame Offset Vector (PS3.3 C.8.8.3.2) places each frame relative to Image Position (Patient)
 * when its first value is 0, else as absolute z. Either way the single frame is placed by Image Position alone
 * afterwards: the position moved to the frame's plane and the vector "0".
 */
function gridFrame(ds: DataSet, index: number, frames: number, into: Map<number, FrameReplacement>): void {
  const el = ds.elements[elementKey(GRID_FRAME_OFFSET_VECTOR)];
  if (!el) return;
  const offsets = textValues(ds, el).map(Number);
  const ippEl = ds.elements[elementKey(IMAGE_POSITION_PATIENT)];
  const ipp = ippEl ? textValues(ds, ippEl).map(Number) : [];
  if (offsets.length !== frames || offsets.some((v) => !Number.isFinite(v)) || ipp.length !== 3 || ipp.some((v) => !Number.isFinite(v))) {
    into.set(GRID_FRAME_OFFSET_VECTOR, null);
    return;
  }
  const offset = offsets[index]!;
  let position: number[];
  if (offsets[0] === 0) {
    const iopEl = ds.elements[elementKey(IMAGE_ORIENTATION_PATIENT)];
    const o = iopEl ? textValues(ds, iopEl).map(Number) : [1, 0, 0, 0, 1, 0];
    // The normal of the image plane: row direction × column direction.
    const n = [o[1]! * o[5]! - o[2]! * o[4]!, o[2]! * o[3]! - o[0]! * o[5]!, o[0]! * o[4]! - o[1]! * o[3]!];
    position = ipp.map((v, i) => v + offset * n[i]!);
  } else position = [ipp[0]!, ipp[1]!, offset];
  // DS holds at most 16 characters: 10 significant digits fit any coordinate in millimetres.
  into.set(IMAGE_POSITION_PATIENT, text('DS', position.map((v) => String(Number(v.toPrecision(10)))).join('\\')));
  into.set(GRID_FRAME_OFFSET_VECTOR, text('DS', '0'));
}

/** What changes at the top level of `parsed` when only frame `index` (0-based) of its `pixel.frames` is written. */
export function singleFrameChanges(parsed: ParsedDicom, pixel: PixelModule, index: number): Map<number, FrameReplacement> {
  const ds = parsed.dataSet;
  const frames = pixel.frames;
  const changes = new Map<number, FrameReplacement>([
    [PIXEL_DATA, pixelReplacement(parsed, pixel, index)],
    // Kept as 1 rather than removed: it is Type 1 in every multi-frame IOD.
    [NUMBER_OF_FRAMES, text('IS', '1')],
    [REPRESENTATIVE_FRAME_NUMBER, null],
    // Offsets into fragments that are no longer there.
    [EXTENDED_OFFSET_TABLE, null],
    [EXTENDED_OFFSET_TABLE_LENGTHS, null],
  ]);
  const perFrame = ds.elements[elementKey(PER_FRAME_FUNCTIONAL_GROUPS)];
  if (perFrame) {
    const item = perFrame.items?.length === frames ? perFrame.items[index]?.dataSet : undefined;
    changes.set(PER_FRAME_FUNCTIONAL_GROUPS, item ? { kind: 'item', dataSet: item } : null);
  }
  for (const tag of TEXT_VECTORS) {
    const el = ds.elements[elementKey(tag)];
    if (!el) continue;
    const values = textValues(ds, el);
    // Frame Time Vector holds increments from the previous frame, and a first frame's is 0 (PS3.3 C.7.6.5.1.2).
    const value = tag === FRAME_TIME_VECTOR ? '0' : values[index]!;
    // An implicit VR file has no VR to write, and DS and SH pad alike.
    changes.set(tag, values.length === frames ? text(el.vr ?? 'DS', value) : null);
  }
  for (const tag of US_VECTORS) {
    const el = ds.elements[elementKey(tag)];
    if (!el) continue;
    const values = raw(ds, el);
    changes.set(tag, values.length === frames * 2 ? { kind: 'bytes', vr: 'US', bytes: values.subarray(index * 2, index * 2 + 2) } : null);
  }
  gridFrame(ds, index, frames, changes);
  return changes;
}
