/**
 * A minimal DICOM writer (PS3.5 §7, PS3.10 §7): a data set as implicit or explicit VR little endian, with sequences
 * of defined length and encapsulated pixel data copied as its fragments, inside a Part 10 file with its own meta
 * header. Enough to write a de-identified copy of a parsed file; it never re-encodes pixels.
 */
import { tagLabel } from './tag-key.ts';

/** A value as it will be written: bytes (already even and little endian), nested items, or encapsulated fragments. */
export type OutValue =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'items'; items: OutElement[][] }
  /** The fragment items and sequence delimiter, exactly as stored after the undefined-length header. */
  | { kind: 'encapsulated'; bytes: Uint8Array };

export interface OutElement {
  tag: number;
  vr: string;
  value: OutValue;
}

/** Explicit VRs with a 32-bit length after two reserved bytes (PS3.5 §7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED_LENGTH = 0xffffffff;

/** Loupe's implementation class UID (PS3.7 D.3.3.2): a 2.25 UUID-derived root made once for Loupe. */
export const IMPLEMENTATION_CLASS_UID = '2.25.284757730531196359834935123012416440717';
export const IMPLEMENTATION_VERSION = 'LOUPE_1';

/** A text value padded to even length: UIDs with NUL, other text with a space (PS3.5 §6.2). */
export function textBytes(text: string, vr: string): Uint8Array {
  const b = Buffer.from(text, 'latin1');
  if (b.length % 2 === 0) return b;
  return Buffer.concat([b, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

function header(tag: number, vr: string, length: number, explicit: boolean): Buffer {
  const long = !explicit || LONG_VRS.has(vr);
  const h = Buffer.alloc(explicit && long ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  if (!explicit) h.writeUInt32LE(length, 4);
  else if (long) {
    h.write(vr, 4, 'latin1');
    h.writeUInt32LE(length, 8);
  } else {
    if (length > 0xffff) throw new Error(`value of (${tagLabel(tag)}) is too long for VR ${vr} (${length} bytes)`);
    h.write(vr, 4, 'latin1');
    h.writeUInt16LE(length, 6);
  }
  return h;
}

function itemHeader(length: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0xfffe, 0);
  h.writeUInt16LE(0xe000, 2);
  h.writeUInt32LE(length, 4);
  return h;
}

function encodeElement(e: OutElement, explicit: boolean): Buffer[] {
  const v = e.value;
  if (v.kind === 'encapsulated') {
    if (!explicit) throw new Error('encapsulated pixel data needs an explicit VR transfer syntax');
    return [header(e.tag, 'OB', UNDEFINED_LENGTH, true), Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength)];
  }
  if (v.kind === 'items') {
    const items = v.items.map((els) => {
      const body = encodeDataSet(els, explicit);
      return Buffer.concat([itemHeader(body.length), body]);
    });
    const body = Buffer.concat(items);
    return [header(e.tag, 'SQ', body.length, explicit), body];
  }
  if (v.bytes.length % 2 === 1) throw new Error(`value of (${tagLabel(e.tag)}) has odd length ${v.bytes.length}`);
  return [header(e.tag, e.vr, v.bytes.length, explicit), Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength)];
}

/** The elements in tag order, as one data set. */
export function encodeDataSet(elements: readonly OutElement[], explicit: boolean): Buffer {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  return Buffer.concat(sorted.flatMap((e) => encodeElement(e, explicit)));
}

/** A Part 10 file: 128-byte preamble, "DICM", the meta group (explicit VR LE, with its group length), the data set. */
export function part10File(meta: { sopClassUid: string; sopInstanceUid: string; transferSyntaxUid: string }, dataSet: Buffer): Buffer {
  const text = (tag: number, vr: string, s: string): OutElement => ({ tag, vr, value: { kind: 'bytes', bytes: textBytes(s, vr) } });
  const group = encodeDataSet(
    [
      { tag: 0x00020001, vr: 'OB', value: { kind: 'bytes', bytes: Uint8Array.of(0, 1) } },
      text(0x00020002, 'UI', meta.sopClassUid),
      text(0x00020003, 'UI', meta.sopInstanceUid),
      text(0x00020010, 'UI', meta.transferSyntaxUid),
      text(0x00020012, 'UI', IMPLEMENTATION_CLASS_UID),
      text(0x00020013, 'SH', IMPLEMENTATION_VERSION),
    ],
    true,
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(group.length);
  const groupLength = encodeDataSet([{ tag: 0x00020000, vr: 'UL', value: { kind: 'bytes', bytes: length } }], true);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, group, dataSet]);
}
