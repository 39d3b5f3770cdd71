/**
 * A bounded protocol-buffers reader for untrusted files (ONNX models from others, issue 12). It never allocates
 * from a length it has not checked against the bytes it holds: length-delimited values are views into the input,
 * varints stop at ten bytes, and every fixed-width value is checked to fit. The writer for export is
 * ../export/onnx/protobuf.ts; the wire types are shared from there.
 */
import { WIRE_FIXED32, WIRE_FIXED64, WIRE_LENGTH, WIRE_VARINT } from '../export/onnx/protobuf.ts';

/** A file that is not the protobuf it claims to be (truncated, corrupt, or something else entirely). */
export class ProtoError extends Error {}

export interface ProtoField {
  field: number;
  wire: number;
  /** varint and fixed64: bigint (exact int64); fixed32: the float it encodes; length-delimited: a view. */
  value: bigint | number | Uint8Array;
}

/**
 * At most this many fields per message level (each costs ~100 bytes as an object): a file of garbage or of
 * millions of tiny fields must not take gigabytes. Real models have thousands of nodes; their weights are packed.
 */
export const MAX_FIELDS = 1_000_000;

function readVarint(data: Uint8Array, at: { pos: number }): bigint {
  let result = 0n;
  for (let i = 0; i < 10; i++) {
    if (at.pos >= data.length) throw new ProtoError('truncated varint');
    const b = data[at.pos++]!;
    result |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return result;
  }
  throw new ProtoError('varint longer than 10 bytes');
}

function need(data: Uint8Array, pos: number, n: number, what: string): void {
  if (n < 0 || pos + n > data.length) throw new ProtoError(`truncated ${what} (needs ${n} bytes at ${pos}, ${data.length - pos} left)`);
}

/** The fields of one message level, in order; length-delimited values stay bytes, to be read as messages. */
export function readFields(data: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  const at = { pos: 0 };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  while (at.pos < data.length) {
    if (out.length >= MAX_FIELDS) throw new ProtoError('too many fields');
    const key = readVarint(data, at);
    if (key > 0xffffffffn) throw new ProtoError('field key out of range');
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtoError('field number 0');
    if (wire === WIRE_VARINT) out.push({ field, wire, value: readVarint(data, at) });
    else if (wire === WIRE_FIXED32) {
      need(data, at.pos, 4, 'fixed32');
      out.push({ field, wire, value: view.getFloat32(at.pos, true) });
      at.pos += 4;
    } else if (wire === WIRE_FIXED64) {
      need(data, at.pos, 8, 'fixed64');
      out.push({ field, wire, value: view.getBigUint64(at.pos, true) });
      at.pos += 8;
    } else if (wire === WIRE_LENGTH) {
      const n = readVarint(data, at);
      if (n > BigInt(data.length - at.pos)) throw new ProtoError(`truncated field ${field} (declares ${n} bytes, ${data.length - at.pos} left)`);
      out.push({ field, wire, value: data.subarray(at.pos, at.pos + Number(n)) });
      at.pos += Number(n);
    } else throw new ProtoError(`unsupported wire type ${wire} (field ${field})`);
  }
  return out;
}

/** A varint field's value as a safe JS integer (int64 read as two's complement). */
export function asInt(f: ProtoField): number {
  if (typeof f.value !== 'bigint') throw new ProtoError(`field ${f.field} is not an integer`);
  const v = BigInt.asIntN(64, f.value);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new ProtoError(`field ${f.field}: ${v} is out of range`);
  return Number(v);
}

export function asBytes(f: ProtoField): Uint8Array {
  if (!(f.value instanceof Uint8Array)) throw new ProtoError(`field ${f.field} is not length-delimited`);
  return f.value;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function asString(f: ProtoField): string {
  return utf8.decode(asBytes(f));
}

export function asFloat(f: ProtoField): number {
  if (typeof f.value !== 'number') throw new ProtoError(`field ${f.field} is not a float`);
  return f.value;
}

/** A repeated integer field, packed (one length-delimited run of varints) or not (one field each). */
export function asInts(fields: ProtoField[]): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.value instanceof Uint8Array) {
      const at = { pos: 0 };
      while (at.pos < f.value.length) out.push(asInt({ field: f.field, wire: WIRE_VARINT, value: readVarint(f.value, at) }));
    } else out.push(asInt(f));
  }
  return out;
}

/** A repeated float field, packed (4 bytes each) or not. */
export function asFloats(fields: ProtoField[]): Float32Array {
  let n = 0;
  for (const f of fields) n += f.value instanceof Uint8Array ? Math.floor(f.value.length / 4) : 1;
  const out = new Float32Array(n);
  let i = 0;
  for (const f of fields) {
    if (f.value instanceof Uint8Array) {
      if (f.value.length % 4) throw new ProtoError(`packed floats of field ${f.field} are not a multiple of 4 bytes`);
      const view = new DataView(f.value.buffer, f.value.byteOffset, f.value.byteLength);
      for (let o = 0; o < f.value.length; o += 4) out[i++] = view.getFloat32(o, true);
    } else out[i++] = asFloat(f);
  }
  return out;
}

/** Groups a message's fields by number, keeping their order within each number. */
export function byField(fields: ProtoField[]): Map<number, ProtoField[]> {
  const map = new Map<number, ProtoField[]>();
  for (const f of fields) {
    const list = map.get(f.field);
    if (list) list.push(f);
    else map.set(f.field, [f]);
  }
  return map;
}
