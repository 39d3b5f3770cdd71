/**
 * What makes a frame written as its own instance (frame-instance.ts) say that it is one: a new image derived from
 * the multi-frame source, not a copy of it (PS3.3 C.7.6.1 General Image).
 *
 * - Image Type value 1 DERIVED, the other values kept (they still describe the pixels: PRIMARY, AXIAL, an NM
 *   image's STATIC or TOMO…); DERIVED\SECONDARY when the source says nothing. Frame Type (0008,9007), the
 *   per-frame twin of Image Type in the functional groups, follows: with one frame, Image Type value 1 must be
 *   that frame's Frame Type value 1 (C.8.16.1).
 * - Source Image Sequence: the source, by its SOP Class UID (a standard UID the profile keeps, as the frame keeps
 *   it) and its *remapped* SOP Instance UID, so the reference survives de-identification without undoing it,
 *   and Referenced Frame Number, as the Image SOP Instance Reference Macro asks of a part of a multi-frame image.
 *   It replaces the source's own sequence: that one lists what the source was made from, this one what the frame
 *   was. Spatial Locations Preserved YES: the pixels are the source's, unmoved.
 * - Derivation Description, text only: CID 7203 (Image Derivation) has no code we could confirm for "one frame
 *   taken out", and a wrong code would be worse than none, so no Derivation Code Sequence.
 * - Instance Number: the source's × a power of ten + the frame number (instanceNumber below).
 */
import type { DataSet } from 'dicom-parser';
import type { FrameReplacement } from './frame-instance.ts';
import { textBytes, type OutElement } from './write.ts';
import { elementKey } from './tag-key.ts';

export const IMAGE_TYPE = 0x00080008;
export const FRAME_TYPE = 0x00089007;
const INSTANCE_NUMBER = 0x00200013;
const DERIVATION_DESCRIPTION = 0x00082111;
const SOURCE_IMAGE_SEQUENCE = 0x00082112;
const REFERENCED_SOP_CLASS_UID = 0x00081150;
const REFERENCED_SOP_INSTANCE_UID = 0x00081155;
const REFERENCED_FRAME_NUMBER = 0x00081160;
const SPATIAL_LOCATIONS_PRESERVED = 0x0028135a;

/** The largest value an IS may hold (PS3.5 6.2: a signed 32-bit integer). */
const IS_MAX = 2 ** 31 - 1;

/** The source this frame came from, as the written files name it. */
export interface FrameSource {
  sopClassUid: string;
  /** The source's SOP Instance UID as de-identification remapped it; the original must never be written. */
  remappedSopInstanceUid: string;
  /** 1-based. */
  frameNumber: number;
  frames: number;
}

/** Image Type or Frame Type with value 1 DERIVED, from the values as stored (backslash-separated, maybe padded). */
export function derivedType(stored: string | undefined): string {
  const values = (stored ?? '').replace(/[\0 ]+$/, '').split('\\').map((v) => v.trim());
  if (values.length === 0 || values.every((v) => v === '')) return 'DERIVED\\SECONDARY';
  return ['DERIVED', ...values.slice(1)].join('\\');
}

/**
 * The frame's Instance Number: the source's Instance Number × 1000 + the frame number, so that the frames of
 * instance 7 read 7001, 7002… in a PACS, sort in frame order and stay apart from
 * the frames of the series' other sources; a source of 1000 frames or more takes the next power of ten that holds its count
 * (the multiplier depends only on the source, so a re-export gives the same numbers; such a source's numbers may
 * meet those of a neighbour with another multiplier, which the standard allows: the SOP Instance UID is what
 * identifies an instance). A source without a number counts as 0 (the frame number alone). Should the result not
 * fit an IS, the frame number alone: still distinct among the source's frames and stable.
 */
export function instanceNumber(sourceNumber: number | null, frameNumber: number, frames: number): number {
  let scale = 1000;
  while (scale <= frames) scale *= 10;
  const base = sourceNumber !== null && Number.isSafeInteger(sourceNumber) ? sourceNumber : 0;
  const n = base * scale + frameNumber;
  return Math.abs(n) <= IS_MAX ? n : frameNumber;
}

function text(tag: number, vr: string, value: string): OutElement {
  return { tag, vr, value: { kind: 'bytes', bytes: textBytes(value, vr) } };
}

function stored(ds: DataSet, tag: number): string | undefined {
  const el = ds.elements[elementKey(tag)];
  return el && el.length > 0 ? Buffer.from(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)).toString('latin1') : undefined;
}

function replacement(vr: string, value: string): FrameReplacement {
  return { kind: 'bytes', vr, bytes: textBytes(value, vr) };
}

/** The top-level attributes that make the frame's instance a derived image of `source` (added when absent). */
export function derivationChanges(ds: DataSet, source: FrameSource): Map<number, FrameReplacement> {
  const sourceNumber = Number.parseInt(stored(ds, INSTANCE_NUMBER)?.trim() ?? '', 10);
  const reference: OutElement[] = [
    text(REFERENCED_SOP_CLASS_UID, 'UI', source.sopClassUid),
    text(REFERENCED_SOP_INSTANCE_UID, 'UI', source.remappedSopInstanceUid),
    text(REFERENCED_FRAME_NUMBER, 'IS', String(source.frameNumber)),
    text(SPATIAL_LOCATIONS_PRESERVED, 'CS', 'YES'),
  ];
  return new Map<number, FrameReplacement>([
    [IMAGE_TYPE, replacement('CS', derivedType(stored(ds, IMAGE_TYPE)))],
    [SOURCE_IMAGE_SEQUENCE, { kind: 'items', items: [reference] }],
    [DERIVATION_DESCRIPTION, replacement('ST', `Frame ${source.frameNumber} of ${source.frames} of a multi-frame image, written as a single-frame image; pixel data unchanged`)],
    [INSTANCE_NUMBER, replacement('IS', String(instanceNumber(Number.isNaN(sourceNumber) ? null : sourceNumber, source.frameNumber, source.frames)))],
  ]);
}
