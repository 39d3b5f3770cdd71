/**
 * A minimal protocol-buffers writer: enough to serialize ONNX's ModelProto (varints, 64-bit ints, fixed32 floats
 * and length-delimited fields). Written here rather than pulling in a protobuf runtime and generated code for
 * the ~15 messages ONNX export needs. Messages are built as field lists and encoded bottom-up, so nested lengths
 * are known when written.
 *
 * Repeated scalars are written unpacked (one tag per element): onnx.proto is proto2, whose parsers accept both,
 * and unpacked is what proto2 emits by default.
 */

/** Protobuf wire types (the 3 low bits of a field key); the ONNX reader uses them too. */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH = 2;
export const WIRE_FIXED32 = 5;

/** Growable byte sink. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint of a non-negative safe integer, or of any int64 given as a bigint (two's complement). */
  varint(value: number | bigint): void {
    let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`protobuf: ${v} is not an integer`);
      if (v < 0) {
        this.varint(BigInt(v));
        return;
      }
      while (v > 0x7f) {
        this.byte((v % 128) | 0x80);
        v = Math.floor(v / 128);
      }
      this.byte(v);
      return;
    }
    while (v > 0x7fn) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** int32 / int64 / enum / bool field. Negative values take ten bytes, as protobuf specifies. */
  int(field: number, value: number | bigint | boolean): this {
    this.tag(field, WIRE_VARINT);
    this.varint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  ints(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LENGTH);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  strings(field: number, values: readonly string[]): this {
    for (const v of values) this.string(field, v);
    return this;
  }

  /** An embedded message, encoded by `build` into its own writer first (its length precedes it). */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
