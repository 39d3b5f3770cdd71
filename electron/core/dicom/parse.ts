/**
 * Finding and parsing DICOM files. Detection is by content: the `DICM` marker after the 128-byte preamble, or a
 * raw data set without one (older modalities and some exporters write bare implicit-VR data sets), recognized by
 * walking its first elements: tags ascending, even lengths, known VRs where the VR is explicit.
 *
 * dicom-parser does the element parsing; this module chooses how (meta header or sniffed layout, deflated body
 * inflated first with a bounded output) and turns its exceptions into reasons a user can act on.
 */
import { inflateRawSync } from 'node:zlib';
import dicomParser, { type ByteArrayParser, type DataSet } from 'dicom-parser';
import {
  EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, transferSyntax, unsupportedSyntaxReason, type TransferSyntax,
} from './syntax.ts';

/** A file that is not DICOM Loupe can read; `message` is the reason shown to the user. */
export class DicomError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DicomError';
  }
}

/** Bytes of preamble + `DICM`. */
export const PART10_PREFIX_BYTES = 132;
/** How many leading bytes detection looks at (enough for the preamble and the first elements of a raw data set). */
export const DICOM_SNIFF_BYTES = 4096;

const VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'PN', 'SH',
  'SL', 'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]);
/** Explicit VRs whose length is a 32-bit field after two reserved bytes (PS3.5 §7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);

export type RawLayout = 'implicit-le' | 'explicit-le' | 'explicit-be';
const LAYOUT_SYNTAX: Record<RawLayout, string> = { 'implicit-le': IMPLICIT_LE, 'explicit-le': EXPLICIT_LE, 'explicit-be': EXPLICIT_BE };

export function hasDicmPrefix(b: Uint8Array): boolean {
  return b.length >= PART10_PREFIX_BYTES && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** Whether the first elements of `b` read as a data set in this layout (see the module comment). */
function walksAs(b: Uint8Array, layout: RawLayout, total: number, strict: boolean): boolean {
  const le = layout !== 'explicit-be';
  const u16 = (p: number) => (le ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!);
  const u32 = (p: number) => (le ? (u16(p) + u16(p + 2) * 65536) : (u16(p) * 65536 + u16(p + 2)));
  let p = 0;
  let prev = -1;
  let count = 0;
  while (p + 8 <= b.length && count < 16) {
    const group = u16(p);
    const tag = group * 65536 + u16(p + 2);
    // A data set starts with its meta group or with the usual group 0008 identifiers.
    if (tag <= prev || group === 0xfffe || (strict && count === 0 && (group < 0x0002 || group > 0x0010))) return false;
    let len: number;
    let header = 8;
    if (layout === 'implicit-le') {
      len = u32(p + 4);
      // An implicit data set whose bytes also read as explicit VRs is explicit.
      if (count === 0 && VRS.has(String.fromCharCode(b[p + 4]!, b[p + 5]!))) return false;
    } else {
      const vr = String.fromCharCode(b[p + 4]!, b[p + 5]!);
      if (!VRS.has(vr)) return false;
      if (LONG_VRS.has(vr)) {
        if (p + 12 > b.length) break;
        len = u32(p + 8);
        header = 12;
      } else {
        len = u16(p + 6);
      }
    }
    count++;
    // Undefined length (a sequence): the elements read so far must carry the verdict.
    if (len === 0xffffffff) return count >= (strict ? 2 : 1);
    if (len % 2 === 1 || p + header + len > total) return false;
    prev = tag;
    p += header + len;
  }
  return count >= 3 || (count >= 1 && p === total);
}

/**
 * The layout of a data set with no preamble, or null when the bytes are not one. `total` is the file size.
 * `strict` (detection) also wants the usual first groups; a body after a meta header is known DICOM already.
 */
export function sniffRawDataset(head: Uint8Array, total = head.length, strict = true): RawLayout | null {
  for (const layout of ['explicit-le', 'explicit-be', 'implicit-le'] as const) {
    if (walksAs(head, layout, total, strict)) return layout;
  }
  return null;
}

/** Detection by content, from the first DICOM_SNIFF_BYTES bytes (or the whole file when shorter). */
export function looksLikeDicom(head: Uint8Array, total = head.length): boolean {
  return hasDicmPrefix(head) || sniffRawDataset(head, total) !== null;
}

export interface ParsedDicom {
  dataSet: DataSet;
  /** The file meta header (group 0002), kept apart: its elements may point into another byte array. */
  meta: DataSet | null;
  syntax: TransferSyntax;
  /** Part 10 file (preamble + meta header) rather than a bare data set. */
  part10: boolean;
}

export interface ParseLimits {
  /** Upper bound of a deflated data set once inflated (a deflate bomb is refused, never allocated). */
  maxInflatedBytes: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxInflatedBytes: 1 << 30 };

type DataSetCtor = new (parser: ByteArrayParser, byteArray: Uint8Array, elements: DataSet['elements']) => DataSet;
type ByteStreamCtor = new (parser: ByteArrayParser, byteArray: Uint8Array, position: number) => dicomParser.ByteStream;
const DataSetClass = (dicomParser as unknown as { DataSet: DataSetCtor }).DataSet;
const ByteStreamClass = dicomParser.ByteStream as unknown as ByteStreamCtor;

function messageOf(e: unknown): string {
  const inner = (e as { exception?: unknown } | null)?.exception ?? e;
  return inner instanceof Error ? inner.message : String(inner);
}

function isOverrun(msg: string): boolean {
  return /overrun|overread|maxPosition|beyond|end of (the )?(buffer|file)|eof|out of range|outside the bounds/i.test(msg);
}

/** Reads the meta header of a Part 10 file; `bytes` starts with the preamble. */
function readMeta(bytes: Uint8Array): DataSet & { position: number } {
  try {
    return dicomParser.readPart10Header(bytes) as DataSet & { position: number };
  } catch (e) {
    const msg = messageOf(e);
    throw new DicomError(
      isOverrun(msg)
        ? 'truncated DICOM file: it ends inside the file meta header'
        : `not a DICOM file: it has the "DICM" marker but its file meta header cannot be read (${msg})`,
    );
  }
}

function stringOf(ds: DataSet, tag: string): string | undefined {
  const v = ds.string(tag);
  return v === undefined ? undefined : v.replace(/\0+$/, '').trim();
}

function inflate(body: Uint8Array, limits: ParseLimits): Uint8Array {
  try {
    return inflateRawSync(body, { maxOutputLength: limits.maxInflatedBytes });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || /too large|maxOutputLength/i.test(messageOf(e))) {
      throw new DicomError(`deflated data set too large: it inflates to more than ${limits.maxInflatedBytes} bytes`);
    }
    throw new DicomError(`corrupt deflated data set: ${messageOf(e)}`);
  }
}

/** Parses the data set of `bytes` from `position` with dicom-parser. */
function parseBody(bytes: Uint8Array, position: number, syntax: TransferSyntax, total: number): DataSet {
  if (position >= bytes.length) throw new DicomError('DICOM file has no data set after its file meta header');
  const parser = syntax.bigEndian ? dicomParser.bigEndianByteArrayParser : dicomParser.littleEndianByteArrayParser;
  const dataSet = new DataSetClass(parser, bytes, {});
  try {
    const stream = new ByteStreamClass(parser, bytes, position);
    if (syntax.explicitVr) dicomParser.parseDicomDataSetExplicit(dataSet, stream, bytes.length);
    else dicomParser.parseDicomDataSetImplicit(dataSet, stream, bytes.length);
  } catch (e) {
    const msg = messageOf(e);
    if (isOverrun(msg) || position >= bytes.length) {
      throw new DicomError(`truncated DICOM file: the data set ends in the middle of an element (${total} bytes)`);
    }
    throw new DicomError(`corrupt DICOM data set: ${msg}`);
  }
  return dataSet;
}

/**
 * Parses a whole DICOM file (Part 10 or a bare data set). Throws DicomError with the reason when it is not DICOM,
 * is truncated, or uses a transfer syntax Loupe cannot decode.
 */
export function parseDicom(bytes: Uint8Array, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParsedDicom {
  if (bytes.length === 0) throw new DicomError('empty file (0 bytes)');
  let source = bytes;
  let part10 = hasDicmPrefix(bytes);
  if (!part10) {
    const layout = sniffRawDataset(bytes.subarray(0, DICOM_SNIFF_BYTES), bytes.length);
    if (!layout) throw new DicomError('not a DICOM file: no "DICM" marker and no data set at the start of the file');
    // A meta group without preamble: give it the preamble dicom-parser expects (the meta is always explicit LE).
    if (bytes[0] === 0x02 && bytes[1] === 0x00 && layout === 'explicit-le') {
      source = new Uint8Array(PART10_PREFIX_BYTES + bytes.length);
      source.set([0x44, 0x49, 0x43, 0x4d], 128);
      source.set(bytes, PART10_PREFIX_BYTES);
      part10 = true;
    } else {
      const syntax = transferSyntax(LAYOUT_SYNTAX[layout])!;
      return { dataSet: parseBody(bytes, 0, syntax, bytes.length), meta: null, syntax, part10: false };
    }
  }
  const meta = readMeta(source);
  if (Object.keys(meta.elements).length === 0) throw new DicomError('not a DICOM file: it has the "DICM" marker but no file meta header after it');
  const bodyLayout = () =>
    sniffRawDataset(source.subarray(meta.position, meta.position + DICOM_SNIFF_BYTES), source.length - meta.position, false);
  let uid = stringOf(meta, 'x00020010');
  if (!uid) {
    // Some writers omit (0002,0010): read the body's own layout, as pydicom and dcmtk do.
    const layout = bodyLayout();
    if (!layout) throw new DicomError('DICOM file meta header has no Transfer Syntax UID (0002,0010) and the data set layout cannot be recognized');
    uid = LAYOUT_SYNTAX[layout];
  }
  const syntax = transferSyntax(uid);
  if (!syntax) throw new DicomError(unsupportedSyntaxReason(uid));
  if (syntax.deflated) {
    return { dataSet: parseBody(inflate(source.subarray(meta.position), limits), 0, syntax, bytes.length), meta, syntax, part10 };
  }
  // Some writers declare an explicit-VR syntax over an implicit-VR body: read the body as it is written (as pydicom
  // does), keeping the declared pixel encoding.
  const layout = syntax.explicitVr && !syntax.bigEndian ? bodyLayout() : null;
  const bodySyntax = layout === 'implicit-le' ? { ...syntax, explicitVr: false } : syntax;
  return { dataSet: parseBody(source, meta.position, bodySyntax, bytes.length), meta, syntax, part10 };
}

/** A data set string, falling back to the meta header (media storage SOP class and instance UIDs). */
export function metaString(parsed: ParsedDicom, tag: string): string | undefined {
  return stringOf(parsed.dataSet, tag) ?? (parsed.meta ? stringOf(parsed.meta, tag) : undefined);
}
