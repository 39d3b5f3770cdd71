// Issue 12: ONNX graphs converted to TF.js LayersModels, operator by operator, compared with onnxruntime-node on
// the same file (real tfjs cpu backend, real onnxruntime). The graphs are small and hand-made with Loupe's own
// ONNX writer so each one exercises what torchvision's networks do not: asymmetric pads, depthwise multipliers,
// general Clip, per-channel constants, ceil-mode pooling, MatMul + Add, flatten of a spatial map.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readOnnx } from '../../electron/core/onnx-import/onnx-read.ts';
import { convertGraph } from '../../electron/core/onnx-import/convert-graph.ts';
import { compareWithOnnxRuntime, TOLERANCE, verifyConversion } from '../../electron/core/onnx-import/verify.ts';
import { LoupeError } from '../../shared/contract.ts';
import { GraphBuilder, tinyClassifier } from '../helpers/onnx-graphs.ts';
import { floatTensor } from '../../electron/core/export/onnx/onnx-proto.ts';

before(async () => {
  await tf.setBackend('cpu');
});

const ints = (value: number[]) => ({ kind: 'ints' as const, value });
const int = (value: number) => ({ kind: 'int' as const, value });
const float = (value: number) => ({ kind: 'float' as const, value });

async function maxDiff(bytes: Uint8Array, imageSize?: number): Promise<number> {
  const converted = convertGraph(readOnnx(bytes), { imageSize });
  const { maxAbsDiff } = await compareWithOnnxRuntime(bytes, converted, 4);
  converted.model.dispose();
  return maxAbsDiff;
}

function positive(g: GraphBuilder, dims: number[]): string {
  const name = g.weight(dims);
  const t = g.initializers.at(-1)!;
  const values = new Float32Array(t.raw.buffer.slice(0)).map((v) => Math.abs(v) + 0.5);
  g.initializers[g.initializers.length - 1] = floatTensor(name, dims, values);
  return name;
}

test('a graph of the issue’s operators matches onnxruntime within 1e-4', async () => {
  const g = new GraphBuilder(3);
  // 9×9 input, stride-2 conv with asymmetric pads (top 0, left 1, bottom 1, right 0): explicit zero padding.
  let x = g.node('Conv', ['input', g.weight([6, 3, 3, 3]), g.weight([6])], { strides: ints([2, 2]), pads: ints([0, 1, 1, 0]) });
  x = g.node('BatchNormalization', [x, g.weight([6]), g.weight([6]), g.weight([6]), positive(g, [6])], { epsilon: float(1e-3) });
  x = g.node('LeakyRelu', [x], { alpha: float(0.1) });
  // Depthwise with a channel multiplier of 2.
  x = g.node('Conv', [x, g.weight([12, 1, 3, 3]), g.weight([12])], { group: int(6), pads: ints([1, 1, 1, 1]) });
  const lo = g.weight([]);
  const hi = g.weight([]);
  g.initializers.splice(-2, 2, floatTensor(lo, [], Float32Array.of(-0.2)), floatTensor(hi, [], Float32Array.of(0.3)));
  x = g.node('Clip', [x, lo, hi]);
  const gate = g.node('HardSigmoid', [x], { alpha: float(1 / 6), beta: float(0.5) });
  x = g.node('Mul', [x, gate]);
  x = g.node('Sub', [x, g.weight([1])]);
  x = g.node('Div', [x, positive(g, [])]);
  x = g.node('Mul', [x, g.weight([1, 12, 1, 1])]);
  x = g.node('Add', [g.weight([12, 1, 1]), x]);
  x = g.node('Relu', [x]);
  // 5×5 → 3×3 with ceil mode (the last window is partial): padding the end is exact for non-negative values.
  x = g.node('MaxPool', [x], { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: int(1) });
  const s = g.node('Sigmoid', [x]);
  x = g.node('Concat', [x, s], { axis: int(1) });
  x = g.node('AveragePool', [x], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) });
  // The same window counting its padding (PyTorch's default): zero padding, then a 'valid' average.
  x = g.node('AveragePool', [x], { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), count_include_pad: int(1) });
  const vec = g.node('ReduceMean', [x], { axes: ints([2, 3]), keepdims: int(0) });
  const hidden = g.node('MatMul', [vec, g.weight([24, 7])]);
  const biased = g.node('Add', [hidden, g.weight([7])]);
  const out = g.node('Softmax', [g.node('Relu', [biased])]);
  const bytes = g.model(out, { inputShape: ['N', 3, 9, 9] });
  const converted = convertGraph(readOnnx(bytes));
  assert.equal(converted.classes, 7);
  // The feature layer is the input of the last MatMul: the 24 pooled channels.
  assert.deepEqual(converted.features.outputs[0]!.shape, [null, 24]);
  const diff = (await compareWithOnnxRuntime(bytes, converted, 4)).maxAbsDiff;
  assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  converted.model.dispose();
});

test('flattening a spatial map keeps ONNX’s channel-first order; Reshape, Squeeze, HardSwish and Gemm alpha/beta', async () => {
  const g = new GraphBuilder(4);
  const a = g.node('Conv', ['input', g.weight([4, 3, 3, 3])], { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) });
  const flat = g.node('Reshape', [g.node('HardSwish', [a]), g.ints([0, -1])]);
  const out = g.node('Gemm', [flat, g.weight([64, 5]), g.weight([5])], { alpha: float(0.5), beta: float(2) });
  assert.ok((await maxDiff(g.model(out, { opset: 14 }))) < 1e-4);

  const h = new GraphBuilder(5);
  const c = h.node('Conv', ['input', h.weight([4, 3, 1, 1]), h.weight([4])]);
  const pooled = h.node('Squeeze', [h.node('GlobalAveragePool', [c]), h.ints([2, 3])]);
  const flat2 = h.node('Flatten', [h.node('Conv', ['input', h.weight([2, 3, 3, 3])])]);
  const joined = h.node('Concat', [pooled, flat2], { axis: int(1) });
  assert.ok((await maxDiff(h.model(h.node('Gemm', [joined, h.weight([3, 76])], { transB: int(1) })))) < 1e-4);
});

test('a dynamic spatial size needs a declared input size, and then converts', async () => {
  const dynamic = tinyClassifier({ inputShape: ['N', 3, 'H', 'W'] });
  assert.throws(() => convertGraph(readOnnx(dynamic)), /input size is not fixed.*--image-size/);
  assert.ok((await maxDiff(dynamic, 12)) < 1e-4);
  assert.throws(() => convertGraph(readOnnx(tinyClassifier()), { imageSize: 16 }), /fixed at 8×8/);
});

test('unsupported operators and forms are refused, naming the operator and the node', () => {
  assert.throws(
    () => convertGraph(readOnnx(tinyClassifier({ act: 'Elu' }))),
    (e: unknown) => e instanceof LoupeError && /Unsupported ONNX operator Elu \(node "\/block\d+\/Elu"\)/.test(e.message),
  );
  const grouped = new GraphBuilder();
  grouped.node('Conv', ['input', grouped.weight([4, 1, 3, 3])], { group: int(3) });
  assert.throws(() => convertGraph(readOnnx(grouped.model(grouped.nodes[0]!.outputs[0]!))), /weights expect 3 input channels|grouped/);
  // A max pool whose padding is not TF's 'same', on values that may be negative: zero padding would be wrong.
  const pool = new GraphBuilder();
  const c = pool.node('Conv', ['input', pool.weight([4, 3, 1, 1])]);
  const p = pool.node('MaxPool', [c], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) });
  const out = pool.node('Gemm', [pool.node('Flatten', [pool.node('GlobalAveragePool', [p])]), pool.weight([4, 2])]);
  assert.throws(() => convertGraph(readOnnx(pool.model(out))), /MaxPool\): padding \[\[1,1\],\[1,1\]\] is not supported/);
});

test('non-float weights are refused, naming the tensor and its type', () => {
  const g = new GraphBuilder();
  const w = g.ints(new Array(4 * 3 * 3 * 3).fill(1));
  g.initializers.at(-1)!.dims = [4, 3, 3, 3];
  const c = g.node('Conv', ['input', w]);
  const out = g.node('Gemm', [g.node('Flatten', [g.node('GlobalAveragePool', [c])]), g.weight([4, 2])]);
  assert.throws(() => convertGraph(readOnnx(g.model(out))), /weight "i\d+" is int64; Loupe imports float32 weights only/);
  const half = new GraphBuilder();
  const hw = half.weight([4, 3, 3, 3]);
  const t = half.initializers.at(-1)!;
  half.initializers[half.initializers.length - 1] = { ...t, dataType: 10 as 1, raw: t.raw.subarray(0, t.raw.length / 2) };
  const hc = half.node('Conv', ['input', hw]);
  const hout = half.node('Gemm', [half.node('Flatten', [half.node('GlobalAveragePool', [hc])]), half.weight([4, 2])]);
  assert.throws(() => convertGraph(readOnnx(half.model(hout))), /is float16; Loupe imports float32 weights only/);
});

test('a model whose output is not a class vector, or that has no classifier, is refused', () => {
  const g = new GraphBuilder();
  const c = g.node('Conv', ['input', g.weight([4, 3, 3, 3])], { pads: ints([1, 1, 1, 1]) });
  assert.throws(() => convertGraph(readOnnx(g.model(g.node('Relu', [c]), { outputShape: ['N', 4, 8, 8] }))), /one vector of class scores per image/);
  const noHead = new GraphBuilder();
  const pooled = noHead.node('Flatten', [noHead.node('GlobalAveragePool', [noHead.node('Conv', ['input', noHead.weight([4, 3, 1, 1])])])]);
  assert.throws(() => convertGraph(readOnnx(noHead.model(pooled))), /no Gemm or MatMul classifier/);
});

test('a conversion that does not reproduce the file is refused, saying by how much', async () => {
  const converted = convertGraph(readOnnx(tinyClassifier()));
  assert.ok((await verifyConversion(tinyClassifier(), converted)).maxAbsDiff < TOLERANCE);
  // The same graph with other weights stands for a converter that got a layout wrong.
  const other = new GraphBuilder(99);
  const conv = other.node('Conv', ['input', other.weight([4, 3, 3, 3]), other.weight([4])], { pads: ints([1, 1, 1, 1]) });
  const flat = other.node('Flatten', [other.node('GlobalAveragePool', [other.node('Relu', [conv])])]);
  const bytes = other.model(other.node('Gemm', [flat, other.weight([2, 4]), other.weight([2])], { transB: int(1) }));
  await assert.rejects(verifyConversion(bytes, converted), (e: unknown) => {
    const m = /differ from onnxruntime's by up to (\S+) \(allowed (1\.00e-4)\) on 3 random images/.exec((e as Error).message);
    return e instanceof LoupeError && m !== null && Number(m[1]) > Number(m[2]);
  });
  converted.model.dispose();
});

test('large outputs are held to 1e-4 of their size: float32 rounding passes, a wrong conversion does not', async () => {
  // A deep stack of wide convolutions with large logits: a correct conversion differs from onnxruntime only by
  // float32 summation order, which exceeds 1e-4 absolute at this scale.
  const build = (seed: number) => {
    const g = new GraphBuilder(seed);
    let x = 'input';
    let c = 3;
    for (let i = 0; i < 6; i++) {
      x = g.node('Relu', [g.node('Conv', [x, g.weight([64, c, 3, 3], 0.5), g.weight([64])], { pads: ints([1, 1, 1, 1]) })]);
      c = 64;
    }
    const flat = g.node('Flatten', [g.node('GlobalAveragePool', [x])]);
    return g.model(g.node('Gemm', [flat, g.weight([10, 64], 40)], { transB: int(1) }), { inputShape: ['N', 3, 16, 16] });
  };
  const bytes = build(21);
  const converted = convertGraph(readOnnx(bytes));
  const v = await verifyConversion(bytes, converted);
  assert.ok(v.maxAbsOutput > 100, `outputs up to ${v.maxAbsOutput}`);
  assert.ok(v.maxAbsDiff > TOLERANCE && v.maxAbsDiff <= v.allowed, `diff ${v.maxAbsDiff}, allowed ${v.allowed}`);
  await assert.rejects(verifyConversion(build(22), converted), /allowed \S+ for outputs up to/);
  converted.model.dispose();
});
