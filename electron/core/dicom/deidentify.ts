/**
 * De-identified DICOM (issue 11): a parsed file rewritten under PS3.15 Annex E's Basic Application Level
 * Confidentiality Profile (the action table in deid-profile.ts), with private attributes, curves and overlay data
 * removed, UIDs replaced by ones derived from the project's secret (the same source UID gives the same new UID in
 * every file and every re-export, so a study stays one study), and the attributes that say what was done
 * (Patient Identity Removed, De-identification Method and its code sequence) set.
 *
 * Dates follow PS3.15's Retain Longitudinal Temporal Information with Modified Dates option by default: every DA
 * and DT moved by the patient's shift (date-shift.ts), times kept, the birth date still emptied; `dates: 'remove'`
 * empties them as the bare profile does.
 *
 * Pixel data is written as stored, in the file's own transfer syntax (encapsulated fragments copied as they are):
 * re-encoding would change lossless data or compound a lossy one, and every reader that took the source takes the
 * copy. Deflated and big endian files are written as explicit VR little endian (the same values, other bytes).
 * One frame of a multi-frame file is written as a single-frame instance of its own (frame-instance.ts).
 */
import { createHmac } from 'node:crypto';
import type { DataSet, Element } from 'dicom-parser';
import { DicomError, metaString, type ParsedDicom } from './parse.ts';
import { EXPLICIT_LE, IMPLICIT_LE } from './syntax.ts';
import { BASIC_PROFILE, BASIC_PROFILE_VERSION, type ProfileAction } from './deid-profile.ts';
import { encodeDataSet, part10File, textBytes, type OutElement } from './write.ts';
import { dateShiftDays, shiftDateValue } from './date-shift.ts';
import { singleFrameChanges, type FrameReplacement } from './frame-instance.ts';
import { derivationChanges, derivedType, FRAME_TYPE } from './frame-derivation.ts';
import { entryOf } from './tag-table.ts';
import { dictionaryKey, tagOfKey } from './tag-key.ts';
import type { PixelModule } from './pixels.ts';

const PROFILE = new Map(BASIC_PROFILE.map(([tag, keyword, action, vr]) => [tag, { keyword, action, vr }]));

/** A UID for `uid` in this project: 2.25 and 128 bits of HMAC-SHA256 (PS3.5 B.2), the same on every export. */
export function remappedUid(secret: string, uid: string): string {
  const digest = createHmac('sha256', secret).update(`uid:${uid}`).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${digest}`).toString()}`;
}

/**
 * The SOP Instance UID of frame `frameNumber` (1-based) written as an instance of its own: derived from the file's
 * remapped UID, so every re-export gives each frame the same UID and no two frames share one.
 */
export function frameInstanceUid(secret: string, remappedSop: string, frameNumber: number): string {
  return remappedUid(secret, `${remappedSop}#frame:${frameNumber}`);
}

/** The one action this writer takes: the compound ones resolved to the choice that keeps an IOD valid and no value. */
type Resolved = 'X' | 'Z' | 'D' | 'U' | 'K';

function resolve(action: ProfileAction): Resolved {
  switch (action) {
    case 'X/Z':
    case 'Z/D':
    case 'X/Z/D':
      // Empty rather than absent: these are Type 2 in the image IODs (Study Date, Institution Name…).
      return 'Z';
    case 'X/D':
      // Type 3 in the image IODs (Series Date, Protocol Name…): removed.
      return 'X';
    case 'X/Z/U*':
      // Reference sequences: kept, with the UIDs inside them replaced by their own rows (U).
      return 'K';
    default:
      return action;
  }
}

function actionFor(tag: number): { action: Resolved; vr: string } {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  // Private attributes (odd groups, their creators included), curves (50xx) and overlay data/comments (60xx).
  if (group % 2 === 1) return { action: 'X', vr: 'UN' };
  if (group >= 0x5000 && group <= 0x50ff) return { action: 'X', vr: 'UN' };
  if (group >= 0x6000 && group <= 0x60ff && (element === 0x3000 || element === 0x4000)) return { action: 'X', vr: 'UN' };
  const row = PROFILE.get(tag);
  return row ? { action: resolve(row.action), vr: row.vr } : { action: 'K', vr: 'UN' };
}

/** Dummy values for D (PS3.15 E.1-1a: non-zero length, consistent with the VR). */
const DUMMY: Record<string, string> = {
  DA: '19000101', TM: '000000', DT: '19000101000000', AS: '000Y', IS: '0', DS: '0',
};

const PATIENT_ID = 0x00100020;
const PATIENT_BIRTH_DATE = 0x00100030;
const PATIENT_BIRTH_TIME = 0x00100032;
const SOP_INSTANCE_UID = 0x00080018;
const PATIENT_IDENTITY_REMOVED = 0x00120062;
const DEIDENTIFICATION_METHOD = 0x00120063;
const DEIDENTIFICATION_METHOD_CODES = 0x00120064;
const LONGITUDINAL_TEMPORAL_INFO = 0x00280303;
const PIXEL_DATA = 0x7fe00010;

/** What the writer adds: the standard's record of the de-identification (PS3.3 C.7.1.1, PS3.15 E.1.1 6). */
const ADDED = new Set([PATIENT_IDENTITY_REMOVED, DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODES, LONGITUDINAL_TEMPORAL_INFO]);

/** VR byte-unit sizes for swapping big endian values to little endian. */
const SWAP_UNIT: Record<string, number> = { US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OL: 4, OF: 4, FD: 8, OD: 8, SV: 8, UV: 8, OV: 8 };

/**
 * The byte unit a big endian value is swapped by: its VR's, except pixel data, whose samples are Bits Allocated
 * wide (a 32-bit dose grid in OW is four-byte values, not two-byte words), read from the data set that holds it.
 */
function swapUnit(ds: DataSet, tag: number, vr: string): number | undefined {
  if (tag !== PIXEL_DATA) return SWAP_UNIT[vr];
  const bits = ds.uint16('x00280100') ?? 0;
  return bits >= 16 ? bits / 8 : SWAP_UNIT[vr];
}

function swapped(bytes: Uint8Array, unit: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i + unit <= bytes.length; i += unit) for (let j = 0; j < unit; j++) out[i + j] = bytes[i + unit - 1 - j]!;
  return out;
}

interface Walk {
  secret: string;
  patientPseudonym: string;
  bigEndian: boolean;
  explicit: boolean;
  /** Days every DA/DT moves by; null: dates are emptied or removed by the profile's own actions. */
  shiftDays: number | null;
  /** One frame written as a derived image: Frame Type, wherever a functional group holds it, says DERIVED too. */
  derived: boolean;
}

function text(tag: number, vr: string, value: string): OutElement {
  return { tag, vr, value: { kind: 'bytes', bytes: textBytes(value, vr) } };
}

function rawString(ds: DataSet, el: Element): string {
  return Buffer.from(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)).toString('latin1').replace(/[\0 ]+$/, '').trim();
}

/** A top-level replacement (frame-instance.ts) as written: padded to even length, swapped from big endian. */
function replaced(ds: DataSet, tag: number, r: Exclude<FrameReplacement, null>, w: Walk): OutElement {
  if (r.kind === 'encapsulated') return { tag, vr: 'OB', value: { kind: 'encapsulated', bytes: r.bytes } };
  if (r.kind === 'item') return { tag, vr: 'SQ', value: { kind: 'items', items: [walk(r.dataSet, w)] } };
  if (r.kind === 'items') return { tag, vr: 'SQ', value: { kind: 'items', items: r.items } };
  const unit = w.bigEndian ? swapUnit(ds, tag, r.vr) : undefined;
  const bytes = unit ? swapped(r.bytes, unit) : r.bytes;
  return { tag, vr: r.vr, value: { kind: 'bytes', bytes: bytes.length % 2 === 0 ? bytes : textBytes(Buffer.from(bytes).toString('latin1'), r.vr) } };
}

/**
 * Under the longitudinal option: a date moved (or emptied when malformed: an empty value keeps a Type 2 date
 * present), a time kept; undefined for anything else. The birth date and time stay with the profile: a birth
 * date identifies, moved or not, and the patient's age is not what the option keeps.
 */
function temporal(ds: DataSet, el: Element, tag: number, w: Walk): OutElement | null | undefined {
  if (w.shiftDays === null || tag === PATIENT_BIRTH_DATE || tag === PATIENT_BIRTH_TIME || el.items) return undefined;
  // Implicit VR files carry no VR, and a date written as UN is still one: the dictionary's VR tells.
  const vr = el.vr && el.vr !== 'UN' ? el.vr : entryOf(dictionaryKey(tag))?.vr;
  if (vr === 'TM') return keep(ds, el, tag, vr, w);
  if (vr !== 'DA' && vr !== 'DT') return undefined;
  const shifted = shiftDateValue(rawString(ds, el), vr, w.shiftDays);
  return text(tag, vr, shifted ?? '');
}

function walk(ds: DataSet, w: Walk, top?: Map<number, FrameReplacement>): OutElement[] {
  const out: OutElement[] = [];
  for (const [key, el] of Object.entries(ds.elements)) {
    const tag = tagOfKey(key);
    // Group lengths (gggg,0000; retired outside the meta group) would be stale once values change.
    if (tag >>> 16 === 0x0002 || tag >>> 16 === 0xfffe || (tag & 0xffff) === 0) continue;
    const { action, vr: tableVr } = actionFor(tag);
    const vr = el.vr ?? (el.items ? 'SQ' : tableVr);
    // Private, curve and overlay data go whatever their VR (the rules outside the table); the frame's changes
    // replace what they name; dates the table removes are moved instead under the longitudinal option.
    if (action === 'X' && !PROFILE.has(tag)) continue;
    if (top?.has(tag)) {
      const r = top.get(tag)!;
      if (r) out.push(replaced(ds, tag, r, w));
      continue;
    }
    if (w.derived && tag === FRAME_TYPE) {
      out.push(text(tag, 'CS', derivedType(rawString(ds, el))));
      continue;
    }
    const moved = temporal(ds, el, tag, w);
    if (moved !== undefined) {
      if (moved) out.push(moved);
      continue;
    }
    if (action === 'X') continue;
    if (tag === PATIENT_ID) {
      out.push(text(tag, 'LO', w.patientPseudonym));
      continue;
    }
    const dummy = action === 'D' && vr !== 'UI' ? (DUMMY[vr] ?? (isText(vr) ? 'ANONYMIZED' : null)) : null;
    if (action === 'Z' || (action === 'D' && vr !== 'UI' && dummy === null)) {
      out.push(vr === 'SQ' ? { tag, vr, value: { kind: 'items', items: [] } } : { tag, vr, value: { kind: 'bytes', bytes: new Uint8Array(0) } });
      continue;
    }
    if (action === 'D') {
      out.push(dummy === null ? text(tag, vr, remappedUid(w.secret, rawString(ds, el))) : text(tag, vr, dummy));
      continue;
    }
    if (action === 'U') {
      const uids = rawString(ds, el).split('\\').filter((u) => u.trim() !== '');
      out.push(text(tag, 'UI', uids.map((u) => remappedUid(w.secret, u.trim())).join('\\')));
      continue;
    }
    const kept = keep(ds, el, tag, vr, w);
    if (kept) out.push(kept);
  }
  return out;
}

function isText(vr: string): boolean {
  return ['AE', 'CS', 'LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT', 'UR'].includes(vr);
}

/** A kept attribute: sequences walked item by item, values copied (swapped from big endian by their VR). */
function keep(ds: DataSet, el: Element, tag: number, vr: string, w: Walk): OutElement | null {
  if (el.items) {
    // Items parsed from an undefined-length UN are implicit VR inside an explicit file: not writable safely.
    if (vr !== 'SQ') return null;
    return { tag, vr, value: { kind: 'items', items: el.items.map((item) => walk(item.dataSet!, w)) } };
  }
  if (el.encapsulatedPixelData || (tag === PIXEL_DATA && el.hadUndefinedLength)) {
    if (!w.explicit) throw new DicomError('encapsulated pixel data in an implicit VR data set cannot be written');
    return { tag, vr: 'OB', value: { kind: 'encapsulated', bytes: ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length) } };
  }
  // An undefined length that is neither a sequence nor pixel data: its end is unknown, so its content is too.
  if (el.hadUndefinedLength) return null;
  const raw = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
  // A UN value that holds items is a sequence this writer cannot see into: anything could be nested there.
  if (vr === 'UN' && raw.length >= 4 && raw[0] === 0xfe && raw[1] === 0xff && raw[2] === 0x00 && raw[3] === 0xe0) return null;
  const unit = w.bigEndian ? swapUnit(ds, tag, vr) : undefined;
  return { tag, vr, value: { kind: 'bytes', bytes: unit ? swapped(raw, unit) : raw } };
}

export interface DeidentifiedFile {
  bytes: Buffer;
  sopInstanceUid: string;
  studyInstanceUid: string | null;
}

/**
 * The de-identified Part 10 file for `parsed`. `patientPseudonym` replaces Patient ID (the project's pseudonymous
 * patient key, so exported studies of one patient stay together). Throws DicomError when the file cannot be written.
 */
export interface DeidentifyOptions {
  /** Retain Longitudinal Temporal Information with Modified Dates (default), or empty dates as the bare profile. */
  dates?: 'shift' | 'remove';
  /** Write only this frame (0-based) of a multi-frame image, as a single-frame instance with a UID of its own. */
  frame?: { index: number; pixel: PixelModule };
}

/** What the shift is keyed by: the patient, else (no Patient ID) the study, so one study at least stays whole. */
function patientKey(parsed: ParsedDicom): string {
  const id = metaString(parsed, 'x00100020');
  if (id) return `patient:${id}`;
  return `study:${metaString(parsed, 'x0020000d') ?? metaString(parsed, 'x00080018') ?? ''}`;
}

export function deidentify(parsed: ParsedDicom, secret: string, patientPseudonym: string, options: DeidentifyOptions = {}): DeidentifiedFile {
  const ds = parsed.dataSet;
  // The body's own layout: a writer may have declared an explicit syntax over an implicit body (parse.ts).
  const explicit = Object.values(ds.elements).some((e) => e.vr !== undefined);
  const shift = (options.dates ?? 'shift') === 'shift';
  const sourceSop = metaString(parsed, 'x00080018') ?? metaString(parsed, 'x00020003');
  const sopClassUid = metaString(parsed, 'x00080016') ?? metaString(parsed, 'x00020002');
  if (!sourceSop || !sopClassUid) throw new DicomError('no SOP Instance UID or SOP Class UID: the file cannot be written as DICOM');
  const frame = options.frame && options.frame.pixel.frames > 1 ? options.frame : null;
  const w: Walk = {
    secret, patientPseudonym, bigEndian: parsed.syntax.bigEndian, explicit, shiftDays: shift ? dateShiftDays(secret, patientKey(parsed)) : null, derived: frame !== null,
  };
  const remappedSop = remappedUid(secret, sourceSop);
  const sopInstanceUid = frame ? frameInstanceUid(secret, remappedSop, frame.index + 1) : remappedSop;
  const changes = new Map<number, FrameReplacement>();
  if (frame) {
    const source = { sopClassUid, remappedSopInstanceUid: remappedSop, frameNumber: frame.index + 1, frames: frame.pixel.frames };
    for (const [tag, r] of [...singleFrameChanges(parsed, frame.pixel, frame.index), ...derivationChanges(ds, source)]) changes.set(tag, r);
  }
  changes.set(SOP_INSTANCE_UID, { kind: 'bytes', vr: 'UI', bytes: textBytes(sopInstanceUid, 'UI') });
  const elements = walk(ds, w, changes).filter((e) => !ADDED.has(e.tag));
  // What the changes set and the source lacks (Image Type, Source Image Sequence… of a frame; the SOP Instance UID
  // of a file that had it in its meta header only).
  for (const [tag, r] of changes) if (r && !elements.some((e) => e.tag === tag)) elements.push(replaced(ds, tag, r, w));
  // One value per step (LO holds 64 characters; the attribute is multi-valued).
  const method = ['Loupe', 'Basic Application Level Confidentiality Profile', ...(shift ? ['Retain Longitudinal Temporal Information Modified Dates Option'] : []), BASIC_PROFILE_VERSION];
  const code = (value: string, meaning: string) => [text(0x00080100, 'SH', value), text(0x00080102, 'SH', 'DCM'), text(0x00080104, 'LO', meaning)];
  elements.push(
    text(PATIENT_IDENTITY_REMOVED, 'CS', 'YES'),
    text(DEIDENTIFICATION_METHOD, 'LO', method.join('\\')),
    {
      tag: DEIDENTIFICATION_METHOD_CODES,
      vr: 'SQ',
      // CID 7050 (PS3.16): the profile, and the option when dates were moved.
      value: {
        kind: 'items',
        items: [
          code('113100', 'Basic Application Confidentiality Profile'),
          ...(shift ? [code('113107', 'Retain Longitudinal Temporal Information Modified Dates Option')] : []),
        ],
      },
    },
    // PS3.3 C.7.6.1.1.7: MODIFIED when the option moved the dates, REMOVED when the bare profile emptied them.
    text(LONGITUDINAL_TEMPORAL_INFO, 'CS', shift ? 'MODIFIED' : 'REMOVED'),
  );
  const sourceStudy = metaString(parsed, 'x0020000d');
  const syntaxUid = !explicit ? IMPLICIT_LE : parsed.syntax.bigEndian || parsed.syntax.deflated ? EXPLICIT_LE : parsed.syntax.uid;
  const body = encodeDataSet(elements, explicit);
  return {
    bytes: part10File({ sopClassUid, sopInstanceUid, transferSyntaxUid: syntaxUid }, body),
    sopInstanceUid,
    studyInstanceUid: sourceStudy ? remappedUid(secret, sourceStudy) : null,
  };
}

/** Whether the file says its pixels show text that may identify the patient (Burned In Annotation, 0028,0301). */
export function hasBurnedInAnnotation(parsed: ParsedDicom): boolean {
  return (metaString(parsed, 'x00280301') ?? '').toUpperCase() === 'YES';
}
