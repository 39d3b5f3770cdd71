// Issue 12: the bounded protobuf reader and the ONNX model reader on untrusted bytes. Every malformed input ends
// in a clear LoupeError (or ProtoError inside the reader), never an out-of-range read or a huge allocation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtoWriter } from '../../electron/core/export/onnx/protobuf.ts';
import { readFields, asInts, asFloats, ProtoError, MAX_FIELDS } from '../../electron/core/onnx-import/proto-reader.ts';
import { readOnnx, MAX_OPSET, MIN_OPSET } from '../../electron/core/onnx-import/onnx-read.ts';
import { LoupeError } from '../../shared/contract.ts';
import { tinyClassifier } from '../helpers/onnx-graphs.ts';

test('the reader reads back what the writer wrote, packed and unpacked', () => {
  const w = new ProtoWriter().int(1, 300).int(2, -5).float(3, 1.5).string(4, 'abc').ints(5, [1, 2, 3]);
  const packed = new ProtoWriter();
  for (const v of [7, 8]) packed.varint(v);
  w.bytes(6, packed.finish());
  const fields = readFields(w.finish());
  assert.equal(fields[0]!.value, 300n);
  assert.equal(BigInt.asIntN(64, fields[1]!.value as bigint), -5n);
  assert.equal(fields[2]!.value, 1.5);
  assert.equal(new TextDecoder().decode(fields[3]!.value as Uint8Array), 'abc');
  assert.deepEqual(asInts(fields.filter((f) => f.field === 5 || f.field === 6)), [1, 2, 3, 7, 8]);
  const floats = new Uint8Array(new Float32Array([0.25, -2]).buffer);
  assert.deepEqual([...asFloats(readFields(new ProtoWriter().bytes(1, floats).finish()))], [0.25, -2]);
});

test('the reader refuses lengths past the end, endless varints, bad wire types and short fixed values', () => {
  const cases: [string, number[]][] = [
    ['length past the end', [0x0a, 0x7f, 1, 2]],
    ['a length of 2^63', [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['an 11-byte varint', [0x08, ...new Array(10).fill(0xff), 0x01]],
    ['a truncated varint', [0x08, 0xff]],
    ['a group (wire type 3)', [0x0b]],
    ['a short fixed32', [0x0d, 1, 2]],
    ['a short fixed64', [0x09, 1, 2, 3]],
    ['field number 0', [0x00, 0x01]],
  ];
  for (const [what, bytes] of cases) assert.throws(() => readFields(Uint8Array.from(bytes)), ProtoError, what);
  // Millions of 2-byte fields: refused before they become millions of objects.
  const many = new Uint8Array((MAX_FIELDS + 1) * 2).fill(0x08).map((b, i) => (i % 2 ? 0 : b));
  assert.throws(() => readFields(many), /too many fields/);
  assert.equal(readFields(many.subarray(0, MAX_FIELDS * 2)).length, MAX_FIELDS);
});

test('a file that is not ONNX, or a truncated one, is refused with a message', () => {
  const model = tinyClassifier();
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const text = new TextEncoder().encode('name,label\nA.png,cat\n');
  for (const bytes of [png, text, new Uint8Array(0)]) {
    assert.throws(() => readOnnx(bytes), (e: unknown) => e instanceof LoupeError && /Not a usable ONNX model/.test(e.message));
  }
  assert.ok(readOnnx(model).nodes.length > 0);
  // Every cut of the file either still parses (a cut between top-level fields) or says it is truncated/unusable.
  for (let cut = 1; cut < model.length; cut += 7) {
    try {
      readOnnx(model.subarray(0, cut));
    } catch (e) {
      assert.ok(e instanceof LoupeError, `cut at ${cut}: ${(e as Error).message}`);
    }
  }
  assert.throws(() => readOnnx(model.subarray(0, model.length - 3)), /truncated|no ONNX IR version|holds/);
});

test('opsets outside what Loupe reads are refused, naming the opset and the range', () => {
  assert.equal(readOnnx(tinyClassifier({ opset: 13 })).opset, 13);
  assert.throws(() => readOnnx(tinyClassifier({ opset: MIN_OPSET - 2 })), new RegExp(`opset ${MIN_OPSET - 2}, older than Loupe reads`));
  assert.throws(() => readOnnx(tinyClassifier({ opset: MAX_OPSET + 5 })), new RegExp(`opset ${MAX_OPSET + 5}, newer than Loupe reads`));
});

test('the model reader decodes shapes, attributes and float weights', () => {
  const g = readOnnx(tinyClassifier({ classes: 3, inputShape: ['N', 3, 8, 8] }));
  assert.deepEqual(g.inputs.map((i) => [i.name, i.shape]), [['input', [null, 3, 8, 8]]]);
  const conv = g.nodes.find((n) => n.opType === 'Conv')!;
  assert.deepEqual(conv.attrs.get('pads'), [1, 1, 1, 1]);
  const w = g.initializers.get(conv.inputs[1]!)!;
  assert.deepEqual(w.dims, [4, 3, 3, 3]);
  assert.equal(w.floats!.length, 108);
  assert.equal(g.nodes.at(-1)!.attrs.get('transB'), 1);
});
