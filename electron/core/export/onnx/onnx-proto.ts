/**
 * The parts of onnx.proto (ONNX IR) that export writes, as plain objects and their protobuf encoding.
 * Field numbers come from onnx-fields.ts, the table the import side reads with.
 */
import {
  AttributeField,
  AttributeType,
  DataType,
  DimensionField,
  GraphField,
  ModelField,
  NodeField,
  OperatorSetIdField,
  ShapeField,
  StringStringEntryField,
  TensorField,
  TensorTypeField,
  TypeField,
  ValueInfoField,
} from './onnx-fields.ts';
import { ProtoWriter } from './protobuf.ts';

export const IR_VERSION = 7;
export const OPSET = 13;

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'string'; value: string };

const ATTR_TYPE = { float: AttributeType.FLOAT, int: AttributeType.INT, string: AttributeType.STRING, ints: AttributeType.INTS } as const;

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
  dataType: typeof DataType.FLOAT | typeof DataType.INT64;
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
  w.string(AttributeField.NAME, name);
  switch (a.kind) {
    case 'float':
      w.float(AttributeField.FLOAT, a.value);
      break;
    case 'int':
      w.int(AttributeField.INT, a.value);
      break;
    case 'string':
      w.string(AttributeField.STRING, a.value);
      break;
    case 'ints':
      w.ints(AttributeField.INTS, a.value);
      break;
  }
  w.int(AttributeField.TYPE, ATTR_TYPE[a.kind]);
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  w.strings(NodeField.INPUT, n.inputs).strings(NodeField.OUTPUT, n.outputs).string(NodeField.NAME, n.name).string(NodeField.OP_TYPE, n.opType);
  for (const [name, a] of Object.entries(n.attributes ?? {})) w.message(NodeField.ATTRIBUTE, (aw) => writeAttribute(aw, name, a));
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.ints(TensorField.DIMS, t.dims).int(TensorField.DATA_TYPE, t.dataType).string(TensorField.NAME, t.name).bytes(TensorField.RAW_DATA, t.raw);
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(ValueInfoField.NAME, v.name);
  // TypeProto { tensor_type: Tensor { elem_type, shape: TensorShapeProto { dim… } } }
  w.message(ValueInfoField.TYPE, (tw) =>
    tw.message(TypeField.TENSOR_TYPE, (tt) => {
      tt.int(TensorTypeField.ELEM_TYPE, DataType.FLOAT);
      tt.message(TensorTypeField.SHAPE, (sw) => {
        for (const d of v.shape) sw.message(ShapeField.DIM, (dw) => (typeof d === 'number' ? dw.int(DimensionField.VALUE, d) : dw.string(DimensionField.PARAM, d)));
      });
    }),
  );
}

/** Serializes a ModelProto. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(ModelField.IR_VERSION, IR_VERSION);
  w.string(ModelField.PRODUCER_NAME, m.producerName);
  w.string(ModelField.PRODUCER_VERSION, m.producerVersion);
  w.string(ModelField.DOC_STRING, m.docString);
  w.message(ModelField.GRAPH, (g) => {
    for (const n of m.nodes) g.message(GraphField.NODE, (nw) => writeNode(nw, n));
    g.string(GraphField.NAME, m.graphName);
    for (const t of m.initializers) g.message(GraphField.INITIALIZER, (tw) => writeTensor(tw, t));
    for (const v of m.inputs) g.message(GraphField.INPUT, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(GraphField.OUTPUT, (vw) => writeValueInfo(vw, v));
  });
  w.message(ModelField.OPSET_IMPORT, (o) => o.string(OperatorSetIdField.DOMAIN, '').int(OperatorSetIdField.VERSION, m.opset ?? OPSET));
  for (const [key, value] of Object.entries(m.metadata)) w.message(ModelField.METADATA_PROPS, (e) => e.string(StringStringEntryField.KEY, key).string(StringStringEntryField.VALUE, value));
  return w.finish();
}
