/**
 * De-identified DICOM (issue 11): a parsed file rewritten under PS3.15 Annex E's Basic Application Level
 * Confidentiality Profile (the action table in deid-profile.ts), with private attributes, curves and overlay data
 * removed, UIDs replaced by ones derived from the project's secret (the same source UID gives the same new UID in
 * every file and every re-export, so a study stays one study), and the attributes that say what was done
 * (Patient Identity Removed, De-identification Method and its code sequence) set.
 *
 * Pixel data is written as stored, in the file's own transfer syntax (encapsulated fragments copied as they are):
 * re-encoding would change lossless data or compound a lossy one, and every reader that took the source takes the
 * copy. Deflated and big endian files are written as explicit VR little endian (the same values, other bytes).
 */
import { createHmac } from 'node:crypto';
import type { DataSet, Element } from 'dicom-parser';
import { DicomError, metaString, type ParsedDicom } from './parse.ts';
import { EXPLICIT_LE, IMPLICIT_LE } from './syntax.ts';
import { BASIC_PROFILE, BASIC_PROFILE_VERSION, type ProfileAction } from './deid-profile.ts';
import { encodeDataSet, part10File, textBytes, type OutElement } from './write.ts';

const PROFILE = new Map(BASIC_PROFILE.map(([tag, keyword, action, vr]) => [tag, { keyword, action, vr }]));

/** A UID for `uid` in this project: 2.25 and 128 bits of HMAC-SHA256 (PS3.5 B.2), the same on every export. */
export function remappedUid(secret: string, uid: string): string {
  const digest = createHmac('sha256', secret).update(`uid:${uid}`).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${digest}`).toString()}`;
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
const PATIENT_IDENTITY_REMOVED = 0x00120062;
const DEIDENTIFICATION_METHOD = 0x00120063;
const DEIDENTIFICATION_METHOD_CODES = 0x00120064;
const LONGITUDINAL_TEMPORAL_INFO = 0x00280303;
const PIXEL_DATA = 0x7fe00010;

/** What the writer adds: the standard's record of the de-identification (PS3.3 C.7.1.1, PS3.15 E.1.1 6). */
const ADDED = new Set([PATIENT_IDENTITY_REMOVED, DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODES, LONGITUDINAL_TEMPORAL_INFO]);

/** VR byte-unit sizes for swapping big endian values to little endian. */
const SWAP_UNIT: Record<string, number> = { US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OL: 4, OF: 4, FD: 8, OD: 8, SV: 8, UV: 8, OV: 8 };

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
}

function text(tag: number, vr: string, value: string): OutElement {
  return { tag, vr, value: { kind: 'bytes', bytes: textBytes(value, vr) } };
}

function rawString(ds: DataSet, el: Element): string {
  return Buffer.from(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)).toString('latin1').replace(/[\0 ]+$/, '').trim();
}

function tagOf(key: string): number {
  return parseInt(key.slice(1), 16);
}

function walk(ds: DataSet, w: Walk): OutElement[] {
  const out: OutElement[] = [];
  for (const [key, el] of Object.entries(ds.elements)) {
    const tag = tagOf(key);
    // Group lengths (gggg,0000; retired outside the meta group) would be stale once values change.
    if (tag >>> 16 === 0x0002 || tag >>> 16 === 0xfffe || (tag & 0xffff) === 0) continue;
    const { action, vr: tableVr } = actionFor(tag);
    const vr = el.vr ?? (el.items ? 'SQ' : tableVr);
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
  const unit = w.bigEndian ? SWAP_UNIT[vr] : undefined;
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
export function deidentify(parsed: ParsedDicom, secret: string, patientPseudonym: string): DeidentifiedFile {
  const ds = parsed.dataSet;
  // The body's own layout: a writer may have declared an explicit syntax over an implicit body (parse.ts).
  const explicit = Object.values(ds.elements).some((e) => e.vr !== undefined);
  const w: Walk = { secret, patientPseudonym, bigEndian: parsed.syntax.bigEndian, explicit };
  const elements = walk(ds, w).filter((e) => !ADDED.has(e.tag));
  elements.push(
    text(PATIENT_IDENTITY_REMOVED, 'CS', 'YES'),
    text(DEIDENTIFICATION_METHOD, 'LO', `Loupe: Basic Application Level Confidentiality Profile (${BASIC_PROFILE_VERSION})`),
    {
      tag: DEIDENTIFICATION_METHOD_CODES,
      vr: 'SQ',
      value: { kind: 'items', items: [[text(0x00080100, 'SH', '113100'), text(0x00080102, 'SH', 'DCM'), text(0x00080104, 'LO', 'Basic Application Confidentiality Profile')]] },
    },
    // Dates were removed (the profile without its Retain Longitudinal options).
    text(LONGITUDINAL_TEMPORAL_INFO, 'CS', 'REMOVED'),
  );
  const sourceSop = metaString(parsed, 'x00080018') ?? metaString(parsed, 'x00020003');
  const sopClassUid = metaString(parsed, 'x00080016') ?? metaString(parsed, 'x00020002');
  if (!sourceSop || !sopClassUid) throw new DicomError('no SOP Instance UID or SOP Class UID: the file cannot be written as DICOM');
  const sopInstanceUid = remappedUid(secret, sourceSop);
  if (!elements.some((e) => e.tag === 0x00080018)) elements.push(text(0x00080018, 'UI', sopInstanceUid));
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
