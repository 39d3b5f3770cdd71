/**
 * What Loupe keeps of a DICOM header: the identifiers and descriptors the project stores per image, the SOP
 * classes that carry no image, DICOMDIR records, and text decoded in the file's Specific Character Set.
 */
import type { DataSet } from 'dicom-parser';
import { metaString, type ParsedDicom } from './parse.ts';

export interface DicomMetadata {
  sopClassUid: string | null;
  sopInstanceUid: string | null;
  patientId: string | null;
  studyInstanceUid: string | null;
  seriesInstanceUid: string | null;
  modality: string | null;
  bodyPartExamined: string | null;
  viewPosition: string | null;
  photometricInterpretation: string | null;
  studyDate: string | null;
  seriesDescription: string | null;
  manufacturer: string | null;
  rows: number | null;
  columns: number | null;
  frames: number | null;
  /** Row spacing, column spacing in mm (Pixel Spacing, else Imager Pixel Spacing). */
  pixelSpacing: [number, number] | null;
}

/** Specific Character Set defined terms (PS3.3 C.12.1.1.2) to WHATWG encoding labels Node's TextDecoder knows. */
const CHARSETS: Record<string, string> = {
  '': 'latin1',
  ISO_IR_6: 'latin1',
  ISO_IR_100: 'latin1',
  ISO_IR_101: 'iso-8859-2',
  ISO_IR_109: 'iso-8859-3',
  ISO_IR_110: 'iso-8859-4',
  ISO_IR_144: 'iso-8859-5',
  ISO_IR_127: 'iso-8859-6',
  ISO_IR_126: 'iso-8859-7',
  ISO_IR_138: 'iso-8859-8',
  ISO_IR_148: 'iso-8859-9',
  ISO_IR_203: 'iso-8859-15',
  ISO_IR_13: 'shift_jis',
  ISO_IR_166: 'windows-874',
  ISO_IR_192: 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
  'ISO_2022_IR_6': 'latin1',
  'ISO_2022_IR_100': 'latin1',
  'ISO_2022_IR_101': 'iso-8859-2',
  'ISO_2022_IR_144': 'iso-8859-5',
  'ISO_2022_IR_127': 'iso-8859-6',
  'ISO_2022_IR_126': 'iso-8859-7',
  'ISO_2022_IR_138': 'iso-8859-8',
  'ISO_2022_IR_148': 'iso-8859-9',
  'ISO_2022_IR_13': 'shift_jis',
  'ISO_2022_IR_166': 'windows-874',
  // Multi-byte ISO 2022 sets switched by escape sequences: the escape-aware decoders of the WHATWG standard.
  'ISO_2022_IR_87': 'iso-2022-jp',
  'ISO_2022_IR_159': 'iso-2022-jp',
  'ISO_2022_IR_149': 'euc-kr',
  'ISO_2022_IR_58': 'gbk',
};

/** Escape sequences of the ISO 2022 code extensions DICOM uses (PS3.3 C.12.1.1.2, PS3.5 6.1.2.5.3). */
const ESCAPE_CHARSET: Record<string, string> = {
  '\x1b(B': 'latin1',
  '\x1b(J': 'shift_jis',
  '\x1b)I': 'shift_jis',
  '\x1b$B': 'iso-2022-jp',
  '\x1b$(D': 'iso-2022-jp',
  '\x1b$)C': 'euc-kr',
  '\x1b$)A': 'gbk',
  '\x1b-A': 'latin1',
  '\x1b-B': 'iso-8859-2',
  '\x1b-L': 'iso-8859-5',
  '\x1b-G': 'iso-8859-6',
  '\x1b-F': 'iso-8859-7',
  '\x1b-H': 'iso-8859-8',
  '\x1b-M': 'iso-8859-9',
  '\x1b-T': 'windows-874',
};

const decoders = new Map<string, TextDecoder>();
function decoderFor(label: string): TextDecoder {
  let d = decoders.get(label);
  if (!d) decoders.set(label, (d = new TextDecoder(label)));
  return d;
}

/**
 * Decodes bytes with ISO 2022 code extensions: each escape sequence switches the character set of the bytes that
 * follow it; `initial` decodes the bytes before the first one. JIS X 0208/0212 segments keep their escape (the
 * iso-2022-jp decoder needs it).
 */
function decodeIso2022(bytes: Uint8Array, initial: string): string {
  let out = '';
  let label = initial;
  let start = 0;
  const flush = (end: number, escape: string) => {
    if (end <= start) return;
    const seg = bytes.subarray(start, end);
    out += label === 'iso-2022-jp' ? decoderFor(label).decode(Buffer.concat([Buffer.from(escape, 'latin1'), seg])) : decoderFor(label).decode(seg);
  };
  let escape = '';
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x1b) continue;
    const seq = Object.keys(ESCAPE_CHARSET).find((e) => Buffer.from(bytes.subarray(i, i + e.length)).toString('latin1') === e);
    if (!seq) continue;
    flush(i, escape);
    label = ESCAPE_CHARSET[seq]!;
    escape = seq;
    start = i + seq.length;
    i += seq.length - 1;
  }
  flush(bytes.length, escape);
  return out;
}

/** A text decoder for the data set's Specific Character Set (0008,0005). */
export function textDecoderFor(ds: DataSet): (bytes: Uint8Array) => string {
  const terms = (ds.string('x00080005') ?? '').split('\\').map((t) => t.trim().replace(/ /g, '_'));
  const labels = terms.map((t) => CHARSETS[t] ?? 'latin1');
  const iso2022 = terms.some((t) => t.startsWith('ISO_2022'));
  const primary = labels.find((l) => l !== 'latin1') ?? 'latin1';
  const latin1 = decoderFor('latin1');
  return (bytes) => {
    // Plain ASCII is the same in every set: skip the decoders.
    if (bytes.every((b) => b < 0x80 && b !== 0x1b)) return latin1.decode(bytes);
    return iso2022 ? decodeIso2022(bytes, labels[0]!) : decoderFor(primary).decode(bytes);
  };
}

/** A string element decoded in the file's character set, trailing padding removed; null when absent or empty. */
export function textOf(ds: DataSet, tag: string, decode: (bytes: Uint8Array) => string): string | null {
  const el = ds.elements[tag];
  if (!el || el.length === 0 || el.dataOffset + el.length > ds.byteArray.length) return null;
  const text = decode(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length)).replace(/[\0 ]+$/, '').trim();
  return text === '' ? null : text;
}

function numberOrNull(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

function spacing(ds: DataSet): [number, number] | null {
  for (const tag of ['x00280030', 'x00181164']) {
    // dicom-parser throws when asked for a value index the element does not have.
    if ((ds.numStringValues(tag) ?? 0) < 2) continue;
    const r = ds.floatString(tag, 0);
    const c = ds.floatString(tag, 1);
    if (r !== undefined && c !== undefined && r > 0 && c > 0) return [r, c];
  }
  return null;
}

export function readMetadata(parsed: ParsedDicom): DicomMetadata {
  const ds = parsed.dataSet;
  const decode = textDecoderFor(ds);
  const text = (tag: string) => textOf(ds, tag, decode);
  const uid = (tag: string) => metaString(parsed, tag) ?? null;
  const framesText = ds.string('x00280008');
  return {
    sopClassUid: uid('x00080016') ?? (parsed.meta?.string('x00020002')?.replace(/\0+$/, '').trim() || null),
    sopInstanceUid: uid('x00080018') ?? (parsed.meta?.string('x00020003')?.replace(/\0+$/, '').trim() || null),
    patientId: text('x00100020'),
    studyInstanceUid: uid('x0020000d'),
    seriesInstanceUid: uid('x0020000e'),
    modality: text('x00080060'),
    bodyPartExamined: text('x00180015'),
    viewPosition: text('x00185101'),
    photometricInterpretation: text('x00280004'),
    studyDate: text('x00080020'),
    seriesDescription: text('x0008103e'),
    manufacturer: text('x00080070'),
    rows: ds.elements.x00280010 ? numberOrNull(ds.uint16('x00280010')) : null,
    columns: ds.elements.x00280011 ? numberOrNull(ds.uint16('x00280011')) : null,
    frames: ds.elements.x00280010 ? (framesText ? numberOrNull(Number(framesText.trim())) : 1) : null,
    pixelSpacing: spacing(ds),
  };
}

/** Storage SOP classes without an image, by UID prefix or UID, for the "no image data" list. */
const NO_IMAGE_CLASSES: readonly [string, string][] = [
  ['1.2.840.10008.5.1.4.1.1.88.', 'Structured Report'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RT Plan'],
  ['1.2.840.10008.5.1.4.1.1.481.8', 'RT Ion Plan'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RT Structure Set'],
  ['1.2.840.10008.5.1.4.1.1.481.4', 'RT Beams Treatment Record'],
  ['1.2.840.10008.5.1.4.1.1.481.7', 'RT Treatment Summary Record'],
  ['1.2.840.10008.5.1.4.1.1.11.', 'Presentation State'],
  ['1.2.840.10008.5.1.4.1.1.9.', 'Waveform'],
  ['1.2.840.10008.5.1.4.1.1.104.', 'Encapsulated Document'],
  ['1.2.840.10008.5.1.4.1.1.66', 'Raw Data / Registration / Segmentation'],
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RT Dose'],
];

/** A readable name of a SOP class for the "no image data" list; the UID itself when unknown. */
export function sopClassName(uid: string | null): string {
  if (!uid) return 'unknown SOP class';
  return NO_IMAGE_CLASSES.find(([prefix]) => uid === prefix || (prefix.endsWith('.') && uid.startsWith(prefix)))?.[1] ?? uid;
}

export const DICOMDIR_SOP_CLASS = '1.2.840.10008.1.3.10';

export function isDicomdir(parsed: ParsedDicom): boolean {
  return metaString(parsed, 'x00020002') === DICOMDIR_SOP_CLASS || parsed.dataSet.elements.x00041220 !== undefined;
}

/** A DICOMDIR record's Referenced File ID: path components of [A-Z0-9_], at most 8 chars each (PS3.10 §8.2). */
const FILE_ID_COMPONENT = /^[A-Za-z0-9_]{1,16}$/;

/**
 * The relative paths of the files a DICOMDIR references, each component validated (no "..", no separators, no
 * absolute paths: a DICOMDIR is untrusted and must not point outside its folder). Invalid ones are returned apart.
 */
export function dicomdirFiles(parsed: ParsedDicom): { files: string[]; invalid: string[] } {
  const files: string[] = [];
  const invalid: string[] = [];
  for (const item of parsed.dataSet.elements.x00041220?.items ?? []) {
    const rec = item.dataSet;
    const id = rec?.string('x00041500');
    if (!rec || !id) continue;
    const parts = id.replace(/\0+$/, '').trim().split('\\').map((p) => p.trim());
    if (parts.every((p) => FILE_ID_COMPONENT.test(p))) files.push(parts.join('/'));
    else invalid.push(id);
  }
  return { files, invalid };
}
