/**
 * An imported ONNX network cut at its feature value (issue 12): the same file with only the nodes and
 * initializers that value needs, and that value as the graph's one output. onnxruntime then computes exactly
 * what the TF.js backbone's feature layer computes (convert-graph.ts picks the value: the input of the last
 * Gemm/MatMul), so the head-only phase can run the frozen backbone natively.
 *
 * Only the ModelProto and GraphProto levels are re-encoded; every node, tensor and opset entry is copied as the
 * bytes it was read as. Field numbers come from onnx-fields.ts. The input is untrusted (the backbone folder
 * may come from someone else), so it goes through the bounded reader.
 */
import { LoupeError } from '../../../shared/contract.ts';
import { DataType, GraphField, ModelField, NodeField, TensorField, TensorTypeField, TypeField, ValueInfoField } from '../export/onnx/onnx-fields.ts';
import { ProtoWriter, WIRE_LENGTH, WIRE_VARINT } from '../export/onnx/protobuf.ts';
import { asBytes, asString, byField, ProtoError, readFields, type ProtoField } from './proto-reader.ts';

/** Copies a message's fields unchanged (the levels re-encoded here hold only varints and messages). */
function copyField(w: ProtoWriter, f: ProtoField): void {
  if (f.wire === WIRE_VARINT) w.int(f.field, f.value as bigint);
  else if (f.wire === WIRE_LENGTH) w.bytes(f.field, f.value as Uint8Array);
  else throw new ProtoError(`unexpected wire type ${f.wire} for field ${f.field}`);
}

function nameOf(message: Uint8Array, field: number): string {
  const f = byField(readFields(message)).get(field);
  return f ? asString(f[0]!) : '';
}

/** The GraphProto's bytes keeping what `value` needs, with `value` as the one output. */
function cutGraph(graph: Uint8Array, value: string): Uint8Array {
  const fields = readFields(graph);
  const nodes = fields.filter((f) => f.field === GraphField.NODE).map((f) => {
    const n = byField(readFields(asBytes(f)));
    return { f, inputs: (n.get(NodeField.INPUT) ?? []).map(asString), outputs: (n.get(NodeField.OUTPUT) ?? []).map(asString) };
  });
  const producer = new Map<string, (typeof nodes)[number]>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  if (!producer.has(value)) {
    throw new LoupeError('BAD_INPUT', `The ONNX graph has no value "${value}" computed by a node, so it cannot be cut there`);
  }
  // Walks back from the feature value: every node it depends on, and every value those nodes read.
  const kept = new Set<(typeof nodes)[number]>();
  const needed = new Set<string>([value]);
  const stack = [value];
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n || kept.has(n)) continue;
    kept.add(n);
    for (const i of n.inputs) {
      if (i && !needed.has(i)) {
        needed.add(i);
        stack.push(i);
      }
    }
  }
  const w = new ProtoWriter();
  for (const f of fields) {
    // value_info: shape hints for intermediate values, optional, and some would name values the cut removes.
    if (f.field === GraphField.NODE || f.field === GraphField.OUTPUT || f.field === GraphField.VALUE_INFO) continue;
    if (f.field === GraphField.INITIALIZER && !needed.has(nameOf(asBytes(f), TensorField.NAME))) continue;
    // Older exporters list initializers as inputs too: those the cut drops go with them.
    if (f.field === GraphField.INPUT && !needed.has(nameOf(asBytes(f), ValueInfoField.NAME))) continue;
    copyField(w, f);
  }
  // Node order is kept: the file's order is already topological (ONNX requires it).
  for (const n of nodes) if (kept.has(n)) copyField(w, n.f);
  // ValueInfoProto { name, type: TypeProto { tensor_type: { elem_type: FLOAT } } }; the shape is left to inference.
  w.message(GraphField.OUTPUT, (v) =>
    v.string(ValueInfoField.NAME, value).message(ValueInfoField.TYPE, (t) => t.message(TypeField.TENSOR_TYPE, (tt) => tt.int(TensorTypeField.ELEM_TYPE, DataType.FLOAT))),
  );
  return w.finish();
}

/**
 * The model bytes with `value` as the only output. Refuses a value no node computes (a typo, a graph input, a
 * file other than the one imported) rather than returning a model that computes something else.
 */
export function featureOutputModel(bytes: Uint8Array, value: string): Uint8Array {
  try {
    const fields = readFields(bytes);
    const graph = fields.filter((f) => f.field === ModelField.GRAPH).at(-1);
    if (!graph) throw new LoupeError('BAD_INPUT', 'Not a usable ONNX model: it has no graph');
    const w = new ProtoWriter();
    for (const f of fields) {
      if (f.field === ModelField.GRAPH) continue;
      copyField(w, f);
    }
    w.bytes(ModelField.GRAPH, cutGraph(asBytes(graph), value));
    return w.finish();
  } catch (e) {
    if (e instanceof ProtoError) throw new LoupeError('BAD_INPUT', `Not a usable ONNX model: the file is truncated or corrupt (${e.message})`);
    throw e;
  }
}
