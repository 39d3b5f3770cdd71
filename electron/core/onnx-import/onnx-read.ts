/**
 * Reads an ONNX ModelProto from untrusted bytes into plain objects (issue 12): the nodes, the initializers as
 * Float32Array (float) or numbers (small integer tensors such as Reshape's shape), the graph's inputs and outputs
 * with their shapes, and the default-domain opset. Only what conversion needs is decoded; every size is checked
 * before it is allocated. Field numbers are those of onnx/onnx.proto.
 */
import { LoupeError } from '../../../shared/contract.ts';
import { DataType } from '../export/onnx/onnx-proto.ts';
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
  const dims = asInts(f.get(1) ?? []);
  if (dims.length > MAX_RANK || dims.some((d) => d < 0 || d > 2 ** 31)) throw bad(`a tensor has dimensions ${JSON.stringify(dims)}`);
  const name = f.has(8) ? asString(f.get(8)!.at(-1)!) : '';
  const dataType = f.has(2) ? asInt(f.get(2)!.at(-1)!) : 0;
  if (f.has(14) && asInt(f.get(14)!.at(-1)!) === 1) {
    throw new LoupeError('UNSUPPORTED', `The tensor "${name}" is stored outside the .onnx file (external data); save the model as one file`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = f.has(9) ? asBytes(f.get(9)!.at(-1)!) : null;
  const tensor: OnnxTensor = { name, dims, dataType };
  if (dataType === DataType.FLOAT) {
    if (raw) {
      if (raw.length !== count * 4) throw bad(`tensor "${name}" holds ${raw.length} bytes, its shape ${JSON.stringify(dims)} needs ${count * 4}`);
      // A copy: the view may be unaligned, and the file's buffer is released after reading.
      tensor.floats = new Float32Array(raw.slice().buffer);
    } else {
      tensor.floats = asFloats(f.get(4) ?? []);
      if (tensor.floats.length !== count) throw bad(`tensor "${name}" holds ${tensor.floats.length} values, its shape needs ${count}`);
    }
  } else if ((dataType === DataType.INT64 || dataType === 6) && count <= MAX_INT_ELEMENTS) {
    if (raw) {
      const width = dataType === DataType.INT64 ? 8 : 4;
      if (raw.length !== count * width) throw bad(`tensor "${name}" holds ${raw.length} bytes, its shape needs ${count * width}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      tensor.ints = Array.from({ length: count }, (_, i) => (width === 8 ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true)));
    } else {
      tensor.ints = asInts(f.get(dataType === DataType.INT64 ? 7 : 5) ?? []);
      if (tensor.ints.length !== count) throw bad(`tensor "${name}" holds ${tensor.ints.length} values, its shape needs ${count}`);
    }
  }
  return tensor;
}

function readAttribute(bytes: Uint8Array): [string, AttrValue] | null {
  const f = byField(readFields(bytes));
  const name = f.has(1) ? asString(f.get(1)![0]!) : '';
  const last = (n: number): ProtoField | undefined => f.get(n)?.at(-1);
  // The type field (20) is authoritative when present; old exporters omit it, so fall back on which field is set.
  const type = last(20) ? asInt(last(20)!) : 0;
  if (type === 1 || (!type && last(2))) return [name, asFloat(last(2)!)];
  if (type === 2 || (!type && last(3))) return [name, asInt(last(3)!)];
  if (type === 3 || (!type && last(4))) return [name, asString(last(4)!)];
  if (type === 4 || (!type && last(5))) return [name, readTensor(asBytes(last(5)!))];
  if (type === 6 || (!type && f.has(7))) return [name, asFloats(f.get(7) ?? [])];
  if (type === 7 || (!type && f.has(8))) return [name, asInts(f.get(8) ?? [])];
  return null; // graphs, sparse tensors, strings lists: no supported operator needs them
}

function readNode(bytes: Uint8Array): OnnxNode {
  const f = byField(readFields(bytes));
  const attrs = new Map<string, AttrValue>();
  for (const a of f.get(5) ?? []) {
    const kv = readAttribute(asBytes(a));
    if (kv) attrs.set(kv[0], kv[1]);
  }
  return {
    inputs: (f.get(1) ?? []).map(asString),
    outputs: (f.get(2) ?? []).map(asString),
    name: f.has(3) ? asString(f.get(3)![0]!) : '',
    opType: f.has(4) ? asString(f.get(4)![0]!) : '',
    domain: f.has(7) ? asString(f.get(7)![0]!) : '',
    attrs,
  };
}

function readValueInfo(bytes: Uint8Array): ValueInfo {
  const f = byField(readFields(bytes));
  const name = f.has(1) ? asString(f.get(1)![0]!) : '';
  const type = f.has(2) ? byField(readFields(asBytes(f.get(2)![0]!))) : null;
  const tensorType = type?.has(1) ? byField(readFields(asBytes(type.get(1)![0]!))) : null;
  const elemType = tensorType?.has(1) ? asInt(tensorType.get(1)![0]!) : 0;
  let shape: (number | null)[] | null = null;
  if (tensorType?.has(2)) {
    const dims = byField(readFields(asBytes(tensorType.get(2)![0]!))).get(1) ?? [];
    if (dims.length > MAX_RANK) throw bad(`"${name}" has ${dims.length} dimensions`);
    shape = dims.map((d) => {
      const dim = byField(readFields(asBytes(d)));
      return dim.has(1) ? asInt(dim.get(1)![0]!) : null;
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
  const graphField = top.get(7)?.at(-1);
  if (!top.has(1) || !graphField || !(graphField.value instanceof Uint8Array)) throw bad('it has no ONNX IR version or graph');
  const irVersion = asInt(top.get(1)![0]!);
  if (irVersion < 3 || irVersion > 100) throw bad(`IR version ${irVersion}`);
  let opset: number | null = null;
  for (const o of top.get(8) ?? []) {
    const of = byField(readFields(asBytes(o)));
    const domain = of.has(1) ? asString(of.get(1)![0]!) : '';
    if ((domain === '' || domain === 'ai.onnx') && of.has(2)) opset = asInt(of.get(2)![0]!);
  }
  if (opset === null) throw bad('it declares no operator set (opset_import)');
  if (opset < MIN_OPSET) throw new LoupeError('UNSUPPORTED', `The model uses ONNX opset ${opset}, older than Loupe reads (${MIN_OPSET}–${MAX_OPSET}); convert it with a newer exporter`);
  if (opset > MAX_OPSET) throw new LoupeError('UNSUPPORTED', `The model uses ONNX opset ${opset}, newer than Loupe reads (${MIN_OPSET}–${MAX_OPSET}); export it with opset ${MAX_OPSET} or lower`);
  const producer = top.has(2) ? asString(top.get(2)![0]!) : '';

  const g = byField(readFields(graphField.value));
  const nodeFields = g.get(1) ?? [];
  if (nodeFields.length > MAX_NODES) throw bad(`it has ${nodeFields.length} nodes`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.get(5) ?? []) {
    const tensor = readTensor(asBytes(t));
    initializers.set(tensor.name, tensor);
  }
  if (g.has(15)) throw new LoupeError('UNSUPPORTED', 'The model has sparse initializers; Loupe reads dense weights only');
  return {
    opset,
    producer,
    nodes: nodeFields.map((n) => readNode(asBytes(n))),
    initializers,
    inputs: (g.get(11) ?? []).map((v) => readValueInfo(asBytes(v))).filter((v) => !initializers.has(v.name)),
    outputs: (g.get(12) ?? []).map((v) => readValueInfo(asBytes(v))),
  };
}
