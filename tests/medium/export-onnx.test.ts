// ONNX export parity (issue 6): LeNet-5, the custom CNN and the compact ResNet, each trained a few steps on
// Fashion-MNIST (so batch-norm statistics and weights are real, not the initial ones), saved as the TF.js
// artifacts a run stores, converted to ONNX, and run by onnxruntime-node on 1,000 test images: probabilities
// within 1e-4 of TF.js and the same argmax. A layer ONNX export does not know fails with its name.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { lenet5, customCnn, compactResnet, type ModelSpec } from '../../electron/core/training/models.ts';
import { modelFiles } from '../../electron/core/training/checkpoint.ts';
import { convertToOnnx, UnsupportedLayerError, type LayersModelJson } from '../../electron/core/export/onnx/convert.ts';
import { readFields } from '../../electron/core/onnx-import/proto-reader.ts';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../helpers/fashion-mnist.ts';
import { seededRandom } from '../../shared/random.ts';

const N = 1000;
const SIZE = 28;
let testX: Float32Array;
let trainX: Float32Array;
let trainY: Int32Array;

/** Fashion-MNIST when Debian's package is there, else seeded images with the same shape and class structure. */
function data(split: 'train' | 't10k', n: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * SIZE * SIZE);
  const y = new Int32Array(n);
  if (existsSync(FASHION_MNIST_DIR)) {
    const set = loadFashionMnist(split);
    for (let i = 0; i < n * SIZE * SIZE; i++) x[i] = (set.images[i]! / 255 - 0.286) / 0.353;
    y.set(set.labels.subarray(0, n));
    return { x, y };
  }
  const random = seededRandom(split === 'train' ? 1 : 2);
  for (let i = 0; i < n; i++) {
    y[i] = i % 10;
    for (let p = 0; p < SIZE * SIZE; p++) x[i * SIZE * SIZE + p] = Math.sin((p % SIZE) * (y[i]! + 1) * 0.2) + random() - 0.5;
  }
  return { x, y };
}

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  testX = data('t10k', N).x;
  const train = data('train', 256);
  trainX = train.x;
  trainY = train.y;
});

async function trainFewSteps(model: tfl.LayersModel): Promise<void> {
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor4d(trainX, [trainY.length, SIZE, SIZE, 1]);
  const ys = tf.oneHot(tf.tensor1d(trainY, 'int32'), 10);
  await model.fit(xs, ys, { epochs: 1, batchSize: 64, verbose: 0 });
  tf.dispose([xs, ys]);
}

async function parity(model: tfl.LayersModel): Promise<{ maxDiff: number; argmaxMismatches: number }> {
  const files = await modelFiles(model);
  const json = JSON.parse(files['model.json'] as string) as LayersModelJson;
  const onnx = convertToOnnx(json, files['weights.bin'] as Buffer, { producerVersion: 'test' });
  const session = await ort.InferenceSession.create(onnx);
  const ours = (await session.run({ image: new ort.Tensor('float32', testX, [N, SIZE, SIZE, 1]) }))['probabilities']!.data as Float32Array;
  const theirs = tf.tidy(() => (model.predict(tf.tensor4d(testX, [N, SIZE, SIZE, 1])) as tf.Tensor).dataSync() as Float32Array);
  assert.equal(ours.length, theirs.length);
  let maxDiff = 0;
  let argmaxMismatches = 0;
  for (let i = 0; i < N; i++) {
    let a = 0;
    let b = 0;
    for (let c = 0; c < 10; c++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i * 10 + c]! - theirs[i * 10 + c]!));
      if (ours[i * 10 + c]! > ours[i * 10 + a]!) a = c;
      if (theirs[i * 10 + c]! > theirs[i * 10 + b]!) b = c;
    }
    if (a !== b) argmaxMismatches++;
  }
  await session.release();
  return { maxDiff, argmaxMismatches };
}

const spec: ModelSpec = { imageSize: SIZE, channels: 1, numClasses: 10, dropout: 0.25, seed: 3 };

for (const [name, build] of [
  ['LeNet-5', () => lenet5(spec)],
  ['custom CNN', () => customCnn(spec)],
  ['compact ResNet', () => compactResnet({ ...spec, width: 8, depth: 1 })],
] as const) {
  test(`ONNX parity: ${name} on ${N} images, max |Δp| ≤ 1e-4, same argmax`, async (t) => {
    const model = build();
    await trainFewSteps(model);
    if (name === 'compact ResNet') {
      // The batch-norm statistics must be real ones (not 0/1), or the BN conversion is not tested.
      const mean = model.getLayer('stem/bn').getWeights()[2]!;
      assert.ok(tf.tidy(() => tf.max(tf.abs(mean)).dataSync()[0]!) > 1e-3);
    }
    const { maxDiff, argmaxMismatches } = await parity(model);
    t.diagnostic(`max |p_onnx − p_tfjs| = ${maxDiff.toExponential(2)}`);
    assert.ok(maxDiff <= 1e-4, `max |p_onnx − p_tfjs| = ${maxDiff}`);
    assert.equal(argmaxMismatches, 0);
    model.dispose();
  });
}

test('a layer ONNX export does not support is named in the error', async () => {
  const input = tfl.input({ shape: [8, 8, 1], name: 'image' });
  const up = tfl.layers.upSampling2d({ name: 'zoom_in', size: [2, 2] }).apply(input) as tfl.SymbolicTensor;
  const flat = tfl.layers.flatten({ name: 'flat' }).apply(up) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ name: 'logits', units: 2, activation: 'softmax' }).apply(flat) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const files = await modelFiles(model);
  assert.throws(
    () => convertToOnnx(JSON.parse(files['model.json'] as string) as LayersModelJson, files['weights.bin'] as Buffer, { producerVersion: 't' }),
    (e: unknown) => e instanceof UnsupportedLayerError && /"zoom_in" \(UpSampling2D\)/.test(e.message),
  );
  model.dispose();
});

test('the model declares opset ≥ 13 and Loupe as producer', async () => {
  const model = customCnn({ ...spec, dropout: 0 });
  const files = await modelFiles(model);
  const bytes = convertToOnnx(JSON.parse(files['model.json'] as string) as LayersModelJson, files['weights.bin'] as Buffer, { producerVersion: '9.9' });
  const top = readFields(bytes);
  const opset = readFields(top.find((f) => f.field === 8)!.value as Uint8Array);
  assert.ok(Number(opset.find((f) => f.field === 2)!.value) >= 13);
  assert.equal(new TextDecoder().decode(top.find((f) => f.field === 2)!.value as Uint8Array), 'Loupe');
  model.dispose();
});
