/**
 * The parts of onnx.proto (ONNX IR) that export writes, as plain objects and their protobuf encoding.
 * Field numbers are those of onnx/onnx.proto (IR version 7 era; unchanged since).
 */
import { ProtoWriter } from './protobuf.ts';

export const IR_VERSION = 7;
export const OPSET = 13;

export const DataType = { FLOAT: 1, INT64: 7 } as const;

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'string'; value: string };

/** AttributeProto.AttributeType */
const ATTR_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: (typeof DataType)[keyof typeof DataType];
  /** Little-endian raw bytes (raw_data). */
  raw: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  /** A number is a fixed dimension, a string a symbolic one (the batch). */
  shape: (number | string)[];
}

export interface OnnxModel {
  producerName: string;
  producerVersion: string;
  docString: string;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
  /** Defaults to OPSET; tests write other opsets to check that import refuses them. */
  opset?: number;
}

export const int = (value: number): AttributeValue => ({ kind: 'int', value });
export const float = (value: number): AttributeValue => ({ kind: 'float', value });
export const ints = (value: number[]): AttributeValue => ({ kind: 'ints', value });

export function floatTensor(name: string, dims: number[], values: Float32Array): OnnxTensor {
  return { name, dims, dataType: DataType.FLOAT, raw: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) };
}

export function int64Tensor(name: string, values: number[]): OnnxTensor {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [values.length], dataType: DataType.INT64, raw };
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'ints':
      w.ints(8, a.value);
      break;
  }
  w.int(20, ATTR_TYPE[a.kind]);
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  w.strings(1, n.inputs).strings(2, n.outputs).string(3, n.name).string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) w.message(5, (aw) => writeAttribute(aw, name, a));
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.ints(1, t.dims).int(2, t.dataType).string(8, t.name).bytes(9, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  // TypeProto { tensor_type = 1: Tensor { elem_type = 1, shape = 2: TensorShapeProto { dim = 1 } } }
  w.message(2, (tw) =>
    tw.message(1, (tt) => {
      tt.int(1, DataType.FLOAT);
      tt.message(2, (sw) => {
        for (const d of v.shape) sw.message(1, (dw) => (typeof d === 'number' ? dw.int(1, d) : dw.string(2, d)));
      });
    }),
  );
}

/** Serializes a ModelProto. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  w.string(6, m.docString);
  w.message(7, (g) => {
    for (const n of m.nodes) g.message(1, (nw) => writeNode(nw, n));
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, m.opset ?? OPSET));
  for (const [key, value] of Object.entries(m.metadata)) w.message(14, (e) => e.string(1, key).string(2, value));
  return w.finish();
}
