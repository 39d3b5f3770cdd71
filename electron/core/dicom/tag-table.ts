/**
 * The tag table of the Details panel: every element of a DICOM header as keyword, tag, VR and value, text decoded in
 * the file's Specific Character Set. Identifying values are shown on the workstation that holds the file; this
 * module returns them to the caller only and never logs them.
 */
import type { DataSet, Element } from 'dicom-parser';
import type { DicomTagRow } from '../../../shared/contract.ts';
import { DICTIONARY_TEXT } from './dictionary-data.ts';
import { textDecoderFor } from './metadata.ts';
import type { ParsedDicom } from './parse.ts';
import { dictionaryKey, tagLabel, tagOfKey } from './tag-key.ts';

/** Bounds: a header with a million elements or a 1 MB text value still gives a table a person can read. */
const MAX_ROWS = 2000;
const MAX_VALUE_CHARS = 256;
const MAX_NUMBERS = 16;
const MAX_DEPTH = 3;

let dictionary: Map<string, { vr: string; keyword: string }> | null = null;

/** Keyword and VR by tag (`ggggeeee`, upper case), parsed once on first use (PS3.6, from pydicom's dictionary). */
export function entryOf(tag: string): { vr: string; keyword: string } | undefined {
  if (!dictionary) {
    dictionary = new Map();
    for (const line of DICTIONARY_TEXT.split('\n')) {
      const [t, vr, keyword] = line.split(' ');
      if (t && vr && keyword) dictionary.set(t, { vr, keyword });
    }
  }
  return dictionary.get(tag);
}

const TEXT_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);
const NUMBER_VRS: Record<string, { bytes: number; read: (ds: DataSet, tag: string, i: number) => number | undefined }> = {
  US: { bytes: 2, read: (ds, t, i) => ds.uint16(t, i) },
  SS: { bytes: 2, read: (ds, t, i) => ds.int16(t, i) },
  UL: { bytes: 4, read: (ds, t, i) => ds.uint32(t, i) },
  SL: { bytes: 4, read: (ds, t, i) => ds.int32(t, i) },
  FL: { bytes: 4, read: (ds, t, i) => ds.float(t, i) },
  FD: { bytes: 8, read: (ds, t, i) => ds.double(t, i) },
};

function clip(text: string): string {
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}

function valueOf(ds: DataSet, el: Element, vr: string, decode: (b: Uint8Array) => string): string {
  if (el.items) return `${el.items.length} item${el.items.length === 1 ? '' : 's'}`;
  if (el.encapsulatedPixelData) return `encapsulated, ${el.fragments?.length ?? 0} fragments`;
  if (el.dataOffset + el.length > ds.byteArray.length) return '(truncated)';
  if (TEXT_VRS.has(vr)) {
    const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + Math.min(el.length, MAX_VALUE_CHARS * 4));
    return clip(decode(bytes).replace(/[\0 ]+$/, '').trim());
  }
  const num = NUMBER_VRS[vr];
  if (num) {
    const n = Math.floor(el.length / num.bytes);
    const shown = Math.min(n, MAX_NUMBERS);
    const values: string[] = [];
    for (let i = 0; i < shown; i++) values.push(String(num.read(ds, el.tag, i) ?? ''));
    return values.join('\\') + (n > shown ? `\\… (${n} values)` : '');
  }
  if (vr === 'AT' && el.length >= 4) {
    const g = ds.uint16(el.tag, 0) ?? 0;
    const e = ds.uint16(el.tag, 1) ?? 0;
    return `(${tagLabel(((g << 16) | e) >>> 0)})`;
  }
  return `(${el.length} bytes)`;
}

function addRows(ds: DataSet, depth: number, rows: DicomTagRow[], decode: (b: Uint8Array) => string, skip?: DataSet | null): void {
  for (const key of Object.keys(ds.elements).sort()) {
    if (skip?.elements[key]) continue;
    if (rows.length >= MAX_ROWS) return;
    const el = ds.elements[key]!;
    const tag = tagOfKey(el.tag);
    const group = tag >>> 16;
    // Private tags (odd groups) have no dictionary entry; their VR is what an explicit-VR file says, or UN.
    const entry = group % 2 === 1 ? undefined : entryOf(dictionaryKey(tag));
    const vr = el.vr ?? entry?.vr ?? 'UN';
    const keyword = entry?.keyword ?? (group % 2 === 1 ? 'Private' : '');
    rows.push({ tag: `${'>'.repeat(depth)}(${tagLabel(tag)})`, keyword, vr, value: valueOf(ds, el, vr, decode) });
    if (el.items && depth < MAX_DEPTH) {
      for (const item of el.items) if (item.dataSet) addRows(item.dataSet, depth + 1, rows, decode);
    }
  }
}

/** The rows of a header: the file meta group first, then the data set in tag order, sequence items nested. */
export function tagTable(parsed: ParsedDicom): DicomTagRow[] {
  const rows: DicomTagRow[] = [];
  const decode = textDecoderFor(parsed.dataSet);
  if (parsed.meta) addRows(parsed.meta, 0, rows, decode);
  // A file's data set may hold the meta group too (the parser reads both from one stream): list it once.
  addRows(parsed.dataSet, 0, rows, decode, parsed.meta);
  return rows;
}
