/**
 * Reads an ONNX ModelProto from untrusted bytes into plain objects (issue 12): the nodes, the initializers as
 * Float32Array (float) or numbers (small integer tensors such as Reshape's shape), the graph's inputs and outputs
 * with their shapes, and the default-domain opset. Only what conversion needs is decoded; every size is checked
 * before it is allocated. Field numbers come from onnx-fields.ts, the table export writes with.
 */
import { LoupeError } from '../../../shared/contract.ts';
import {
  AttributeField as A,
  AttributeType,
  DataLocation,
  DataType,
  DimensionField,
  GraphField as G,
  ModelField,
  NodeField as N,
  OperatorSetIdField,
  ShapeField,
  TensorField as T,
  TensorTypeField,
  TypeField,
  ValueInfoField,
} from '../export/onnx/onnx-fields.ts';
import { asBytes, asFloat, asFloats, asInt, asInts, asString, byField, ProtoError, readFields, type ProtoField } from './proto-reader.ts';

/** Operator sets whose operator semantics the converter knows (Clip's inputs from 11, Squeeze's from 13, …). */
export const MIN_OPSET = 9;
export const MAX_OPSET = 21;
const MAX_RANK = 8;
const MAX_NODES = 100_000;
/** Integer tensors are read into plain arrays: only small ones (shapes, axes, pads) are ever needed. */
const MAX_INT_ELEMENTS = 4096;

export type AttrValue = number | string | number[] | Float32Array | OnnxTensor;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Set for FLOAT tensors. */
  floats?: Float32Array;
  /** Set for small INT64 / INT32 tensors. */
  ints?: number[];
}

export interface OnnxNode {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

export interface ValueInfo {
  name: string;
  elemType: number;
  /** A number is a fixed dimension; null an unknown or symbolic one (dim_param). */
  shape: (number | null)[] | null;
}

export interface OnnxGraph {
  opset: number;
  producer: string;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  /** The graph's real inputs (initializers listed as inputs, as older exporters do, are left out). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

const bad = (why: string) => new LoupeError('BAD_INPUT', `Not a usable ONNX model: ${why}`);

function readTensor(bytes: Uint8Array): OnnxTensor {
  const f = byField(readFields(bytes));
  const dims = asInts(f.get(T.DIMS) ?? []);
  if (dims.length > MAX_RANK || dims.some((d) => d < 0 || d > 2 ** 31)) throw bad(`a tensor has dimensions ${JSON.stringify(dims)}`);
  const name = f.has(T.NAME) ? asString(f.get(T.NAME)!.at(-1)!) : '';
  const dataType = f.has(T.DATA_TYPE) ? asInt(f.get(T.DATA_TYPE)!.at(-1)!) : 0;
  if (f.has(T.DATA_LOCATION) && asInt(f.get(T.DATA_LOCATION)!.at(-1)!) === DataLocation.EXTERNAL) {
    throw new LoupeError('UNSUPPORTED', `The tensor "${name}" is stored outside the .onnx file (external data); save the model as one file`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = f.has(T.RAW_DATA) ? asBytes(f.get(T.RAW_DATA)!.at(-1)!) : null;
  const tensor: OnnxTensor = { name, dims, dataType };
  if (dataType === DataType.FLOAT) {
    if (raw) {
      if (raw.length !== count * 4) throw bad(`tensor "${name}" holds ${raw.length} bytes, its shape ${JSON.stringify(dims)} needs ${count * 4}`);
      // A copy: the view may be unaligned, and the file's buffer is released after reading.
      tensor.floats = new Float32Array(raw.slice().buffer);
    } else {
      tensor.floats = asFloats(f.get(T.FLOAT_DATA) ?? []);
      if (tensor.floats.length !== count) throw bad(`tensor "${name}" holds ${tensor.floats.length} values, its shape needs ${count}`);
    }
  } else if ((dataType === DataType.INT64 || dataType === DataType.INT32) && count <= MAX_INT_ELEMENTS) {
    if (raw) {
      const width = dataType === DataType.INT64 ? 8 : 4;
      if (raw.length !== count * width) throw bad(`tensor "${name}" holds ${raw.length} bytes, its shape needs ${count * width}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      tensor.ints = Array.from({ length: count }, (_, i) => (width === 8 ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true)));
    } else {
      tensor.ints = asInts(f.get(dataType === DataType.INT64 ? T.INT64_DATA : T.INT32_DATA) ?? []);
      if (tensor.ints.length !== count) throw bad(`tensor "${name}" holds ${tensor.ints.length} values, its shape needs ${count}`);
    }
  }
  return tensor;
}

function readAttribute(bytes: Uint8Array): [string, AttrValue] | null {
  const f = byField(readFields(bytes));
  const name = f.has(A.NAME) ? asString(f.get(A.NAME)![0]!) : '';
  const last = (n: number): ProtoField | undefined => f.get(n)?.at(-1);
  // The type field is authoritative when present; old exporters omit it, so fall back on which field is set.
  const type = last(A.TYPE) ? asInt(last(A.TYPE)!) : 0;
  if (type === AttributeType.FLOAT || (!type && last(A.FLOAT))) return [name, asFloat(last(A.FLOAT)!)];
  if (type === AttributeType.INT || (!type && last(A.INT))) return [name, asInt(last(A.INT)!)];
  if (type === AttributeType.STRING || (!type && last(A.STRING))) return [name, asString(last(A.STRING)!)];
  if (type === AttributeType.TENSOR || (!type && last(A.TENSOR))) return [name, readTensor(asBytes(last(A.TENSOR)!))];
  if (type === AttributeType.FLOATS || (!type && f.has(A.FLOATS))) return [name, asFloats(f.get(A.FLOATS) ?? [])];
  if (type === AttributeType.INTS || (!type && f.has(A.INTS))) return [name, asInts(f.get(A.INTS) ?? [])];
  return null; // graphs, sparse tensors, strings lists: no supported operator needs them
}

function readNode(bytes: Uint8Array): OnnxNode {
  const f = byField(readFields(bytes));
  const attrs = new Map<string, AttrValue>();
  for (const a of f.get(N.ATTRIBUTE) ?? []) {
    const kv = readAttribute(asBytes(a));
    if (kv) attrs.set(kv[0], kv[1]);
  }
  return {
    inputs: (f.get(N.INPUT) ?? []).map(asString),
    outputs: (f.get(N.OUTPUT) ?? []).map(asString),
    name: f.has(N.NAME) ? asString(f.get(N.NAME)![0]!) : '',
    opType: f.has(N.OP_TYPE) ? asString(f.get(N.OP_TYPE)![0]!) : '',
    domain: f.has(N.DOMAIN) ? asString(f.get(N.DOMAIN)![0]!) : '',
    attrs,
  };
}

function readValueInfo(bytes: Uint8Array): ValueInfo {
  const f = byField(readFields(bytes));
  const name = f.has(ValueInfoField.NAME) ? asString(f.get(ValueInfoField.NAME)![0]!) : '';
  const type = f.has(ValueInfoField.TYPE) ? byField(readFields(asBytes(f.get(ValueInfoField.TYPE)![0]!))) : null;
  const tensorType = type?.has(TypeField.TENSOR_TYPE) ? byField(readFields(asBytes(type.get(TypeField.TENSOR_TYPE)![0]!))) : null;
  const elemType = tensorType?.has(TensorTypeField.ELEM_TYPE) ? asInt(tensorType.get(TensorTypeField.ELEM_TYPE)![0]!) : 0;
  let shape: (number | null)[] | null = null;
  if (tensorType?.has(TensorTypeField.SHAPE)) {
    const dims = byField(readFields(asBytes(tensorType.get(TensorTypeField.SHAPE)![0]!))).get(ShapeField.DIM) ?? [];
    if (dims.length > MAX_RANK) throw bad(`"${name}" has ${dims.length} dimensions`);
    shape = dims.map((d) => {
      const dim = byField(readFields(asBytes(d)));
      return dim.has(DimensionField.VALUE) ? asInt(dim.get(DimensionField.VALUE)![0]!) : null;
    });
  }
  return { name, elemType, shape };
}

/** Decodes a model file's bytes. Throws a LoupeError saying what is wrong for anything that is not a usable model. */
export function readOnnx(bytes: Uint8Array): OnnxGraph {
  try {
    return decodeModel(bytes);
  } catch (e) {
    if (e instanceof ProtoError) throw bad(`the file is truncated or corrupt (${e.message})`);
    throw e;
  }
}

function decodeModel(bytes: Uint8Array): OnnxGraph {
  const top = byField(readFields(bytes));
  const graphField = top.get(ModelField.GRAPH)?.at(-1);
  if (!top.has(ModelField.IR_VERSION) || !graphField || !(graphField.value instanceof Uint8Array)) throw bad('it has no ONNX IR version or graph');
  const irVersion = asInt(top.get(ModelField.IR_VERSION)![0]!);
  if (irVersion < 3 || irVersion > 100) throw bad(`IR version ${irVersion}`);
  let opset: number | null = null;
  for (const o of top.get(ModelField.OPSET_IMPORT) ?? []) {
    const of = byField(readFields(asBytes(o)));
    const domain = of.has(OperatorSetIdField.DOMAIN) ? asString(of.get(OperatorSetIdField.DOMAIN)![0]!) : '';
    if ((domain === '' || domain === 'ai.onnx') && of.has(OperatorSetIdField.VERSION)) opset = asInt(of.get(OperatorSetIdField.VERSION)![0]!);
  }
  if (opset === null) throw bad('it declares no operator set (opset_import)');
  if (opset < MIN_OPSET) throw new LoupeError('UNSUPPORTED', `The model uses ONNX opset ${opset}, older than Loupe reads (${MIN_OPSET}–${MAX_OPSET}); convert it with a newer exporter`);
  if (opset > MAX_OPSET) throw new LoupeError('UNSUPPORTED', `The model uses ONNX opset ${opset}, newer than Loupe reads (${MIN_OPSET}–${MAX_OPSET}); export it with opset ${MAX_OPSET} or lower`);
  const producer = top.has(ModelField.PRODUCER_NAME) ? asString(top.get(ModelField.PRODUCER_NAME)![0]!) : '';

  const g = byField(readFields(graphField.value));
  const nodeFields = g.get(G.NODE) ?? [];
  if (nodeFields.length > MAX_NODES) throw bad(`it has ${nodeFields.length} nodes`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.get(G.INITIALIZER) ?? []) {
    const tensor = readTensor(asBytes(t));
    initializers.set(tensor.name, tensor);
  }
  if (g.has(G.SPARSE_INITIALIZER)) throw new LoupeError('UNSUPPORTED', 'The model has sparse initializers; Loupe reads dense weights only');
  return {
    opset,
    producer,
    nodes: nodeFields.map((n) => readNode(asBytes(n))),
    initializers,
    inputs: (g.get(G.INPUT) ?? []).map((v) => readValueInfo(asBytes(v))).filter((v) => !initializers.has(v.name)),
    outputs: (g.get(G.OUTPUT) ?? []).map((v) => readValueInfo(asBytes(v))),
  };
}
