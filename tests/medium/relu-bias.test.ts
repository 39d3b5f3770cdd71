// Loupe's Conv2D and Dense (electron/core/training/kernels/relu-bias.ts): bias + relu trained as one fused op
// each way — the wasm kernel, the composed ops on cpu — against tfjs's own layers on the cpu backend with the
// same weights: loss, every weight gradient and the input gradient. Saved models stay plain tfjs layers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadSimdKernels } from '../../electron/core/training/kernels/simd.ts';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { Conv2D, Dense, conv2d, dense } from '../../electron/core/training/kernels/relu-bias.ts';
import { seededValues as values } from '../helpers/seeded-values.ts';
import { assertSameStep, relativeError, trainingStep } from '../helpers/layer-parity.ts';

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
  // The kernels as training runs them: the SIMD ones where they apply (simd-kernels.test.ts holds them to the JS ones).
  assert.equal(await loadSimdKernels(tf.backend()), null);
});

interface Factories {
  conv: (a: Parameters<typeof tfl.layers.conv2d>[0]) => tfl.layers.Layer;
  dense: (a: Parameters<typeof tfl.layers.dense>[0]) => tfl.layers.Layer;
}
const stock: Factories = { conv: (a) => tfl.layers.conv2d(a), dense: (a) => tfl.layers.dense(a) };
const ours: Factories = { conv: conv2d, dense };

/** LeNet's shape in small: conv(relu, same) → pool → conv(relu, valid, stride 2) → flatten → dense(relu) → dense. */
function net(f: Factories, size: number, channels: number): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, channels] });
  let x = f.conv({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', name: 'c1' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tfl.SymbolicTensor;
  x = f.conv({ filters: 5, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', name: 'c2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  x = f.dense({ units: 7, activation: 'relu', name: 'd1' }).apply(x) as tfl.SymbolicTensor;
  x = f.dense({ units: 3, name: 'out' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.softmax().apply(x) as tfl.SymbolicTensor });
  // Biases around zero, so a share of the units is off and the relu masks matter.
  model.setWeights(model.weights.map((w, i) => tf.tensor(values(w.shape.reduce<number>((a, d) => a * (d ?? 1), 1), 200 + i, 0.4), w.shape as number[])));
  return model;
}

test("training steps match tfjs's own layers: loss, every weight gradient, the input gradient", async (t) => {
  // 9 images of 12×12×2: the first conv's 1,296 rows of 6 channels are one group of four channels and two on their own.
  const shape: [number, number, number, number] = [9, 12, 12, 2];
  const x = values(shape.reduce((a, b) => a * b), 17);
  const step = (backend: string, f: Factories) => trainingStep(backend, () => net(f, shape[1], shape[3]), x, shape, 3);
  const reference = await step('cpu', stock);
  assert.equal(reference.grads.length, 8, 'two convs and two dense layers, kernel and bias each');
  const fused = assertSameStep(await step('wasm', ours), reference, 'wasm (fused kernel)');
  const composed = assertSameStep(await step('cpu', ours), reference, 'cpu (composed ops)');
  t.diagnostic(`worst relative error: fused ${fused.toExponential(2)}, composed ${composed.toExponential(2)}`);
});

test('the wasm path runs fused kernels each way and never the image\'s gradient', async () => {
  const model = net(ours, 12, 1);
  const xs = tf.tensor(values(4 * 12 * 12, 3), [4, 12, 12, 1]);
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const names = profile.kernels.map((k) => k.name);
  const count = (name: string) => names.filter((n) => n === name).length;
  assert.equal(count('FusedConv2D'), 2);
  assert.equal(count('_FusedMatMul'), 2, 'd1 fused, and tfjs fuses the linear output layer itself');
  assert.equal(count('LoupeReluBiasGrad'), 3, 'c1, c2, d1');
  // Only c2 needs an input gradient; the image is not a weight.
  assert.equal(count('Conv2DBackpropInput'), 1);
  assert.ok(!names.includes('Relu') && !names.includes('Step'), `no composed relu: ${[...new Set(names)].join(' ')}`);
  xs.dispose();
  model.dispose();
});

/** The ResNet's shape in small: convs with no bias and no activation, each before a batch norm (stem, stride 2). */
function plainNet(f: Factories, size: number, channels: number): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, channels] });
  let x = f.conv({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'stem' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = f.conv({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'down' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ name: 'bn2' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = f.dense({ units: 3, name: 'out' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.softmax().apply(x) as tfl.SymbolicTensor });
  model.setWeights(model.weights.map((w, i) => (w.name.includes('variance') ? tf.ones(w.shape as number[]) : tf.tensor(values(w.shape.reduce<number>((a, d) => a * (d ?? 1), 1), 300 + i, 0.4), w.shape as number[]))));
  return model;
}

test('convs with no bias and no activation train as tfjs\'s, and never compute the image\'s gradient', async () => {
  const shape: [number, number, number, number] = [6, 10, 10, 1];
  const x = values(shape.reduce((a, b) => a * b), 23);
  const step = (backend: string, f: Factories) => trainingStep(backend, () => plainNet(f, shape[1], shape[3]), x, shape, 3);
  const reference = await step('cpu', stock);
  assertSameStep(await step('wasm', ours), reference, 'wasm');
  assertSameStep(await step('cpu', ours), reference, 'cpu');
  const model = plainNet(ours, 10, 1);
  const xs = tf.tensor(x, shape);
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const names = profile.kernels.map((k) => k.name);
  // tfjs-layers' own path (tf.fused.conv2d and its tf.customGrad) would run 2: the stem's is the image's gradient.
  assert.equal(names.filter((n) => n === 'Conv2DBackpropInput').length, 1, names.join(' '));
  assert.equal(names.filter((n) => n === 'Conv2DBackpropFilter').length, 2);
  xs.dispose();
  model.dispose();
});

test('the gradient kernel masks by y > 0 and multiplies: Inf where y is 0 gives NaN, as tfjs does', () => {
  // 3 rows × 5 channels, y = 0 in the middle row: dy·[y > 0] and Σ per channel.
  const y = tf.tensor2d([1, 2, 0, 3, 4, 0, 0, 0, 0, 0, 5, 0, 6, 7, 8], [3, 5]);
  const dy = tf.tensor2d([1, 1, 1, 1, 1, Infinity, 2, 2, 2, 2, 3, 3, 3, 3, 3], [3, 5]);
  const [g, db] = tf.engine().runKernel('LoupeReluBiasGrad', { dy, y }) as [tf.Tensor, tf.Tensor];
  assert.deepEqual([...g!.dataSync()], [1, 1, 0, 1, 1, NaN, 0, 0, 0, 0, 3, 0, 3, 3, 3]);
  assert.deepEqual([...db!.dataSync()], [NaN, 1, 3, 4, 4]);
  tf.dispose([y, dy, g!, db!]);
});

test('training steps leak no tensors; inference and linear layers take the stock path', () => {
  const model = net(ours, 12, 1);
  const xs = tf.tensor(values(2 * 12 * 12, 5), [2, 12, 12, 1]);
  const step = () => tf.tidy(() => tf.variableGrads(() => tf.sum(model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar).value.dataSync());
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
  const stockModel = net(stock, 12, 1);
  stockModel.setWeights(model.getWeights());
  const a = (model.predict(xs) as tf.Tensor).dataSync();
  const b = (stockModel.predict(xs) as tf.Tensor).dataSync();
  assert.ok(relativeError(a, b) < 1e-6, 'same predictions');
  xs.dispose();
  model.dispose();
  stockModel.dispose();
});

test('saved models are plain Conv2D and Dense layers, and load back as ours', async () => {
  const model = net(ours, 12, 1);
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const topology = JSON.stringify(saved!.modelTopology);
  assert.ok(topology.includes('"class_name":"Conv2D"') && topology.includes('"class_name":"Dense"'), 'tfjs class names');
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  assert.ok(loaded.layers.some((l) => l instanceof Conv2D) && loaded.layers.some((l) => l instanceof Dense), 'registered classes');
  model.dispose();
  loaded.dispose();
});
