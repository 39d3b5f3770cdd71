// The inference forward pass (electron/core/training/inference-graph.ts) against tfjs-layers' own predict() on the
// wasm backend, on Loupe's real architectures and on graphs built to trip it: batch norms folded into the layer
// before them, ReLUs fused, weights changed after planning, layers it does not know.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { batchNormalization } from '../../electron/core/training/kernels/batch-norm.ts';
import { inferenceForward } from '../../electron/core/training/inference-graph.ts';
import { phaseConvPool, phasePlan } from '../../electron/core/training/phase-conv.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { trainConfigSchema } from '../../shared/training.ts';
import { seededValues } from '../helpers/seeded-values.ts';

const TOLERANCE = 1e-5;

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
});

const values = seededValues;

/** Batch-norm statistics and affine weights away from their initial 1s and 0s, so folding them changes something. */
function shakeBatchNorms(model: tfl.LayersModel, seed: number): void {
  model.weights.forEach((w, i) => {
    if (!/gamma|beta|moving_mean|moving_variance/.test(w.name)) return;
    const n = w.shape.reduce<number>((a, d) => a * (d ?? 1), 1);
    const v = /variance|gamma/.test(w.name) ? values(n, seed + i, 0.4, 1) : values(n, seed + i, 0.5);
    w.write(tf.tensor(v, w.shape as number[]));
  });
}

function input(shape: [number, number, number, number], seed = 1): tf.Tensor4D {
  return tf.tensor4d(values(shape.reduce((a, b) => a * b), seed), shape);
}

function maxDiff(model: tfl.LayersModel, xs: tf.Tensor4D): number {
  const want = tf.tidy(() => (model.predict(xs) as tf.Tensor).dataSync());
  const got = tf.tidy(() => inferenceForward(model)(xs).dataSync());
  assert.equal(got.length, want.length);
  let d = 0;
  for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
  return d;
}

async function kernelNames(f: () => tf.Tensor): Promise<string[]> {
  const profile = await tf.profile(() => tf.tidy(() => void f().dataSync()));
  return profile.kernels.map((k) => k.name);
}

const count = (names: string[], name: string) => names.filter((n) => n === name).length;

test("Loupe's architectures give predict()'s probabilities; the ResNet's batch norms fold and its ReLUs fuse", async (t) => {
  for (const [arch, size] of [['resnet', 32], ['lenet5', 28], ['cnn', 28]] as const) {
    const model = buildModel(trainConfigSchema.parse({ arch, imageSize: size, channels: 1, seed: 3, width: 8, depth: 2 }), 5);
    shakeBatchNorms(model, 11);
    const xs = input([6, size, size, 1]);
    const d = maxDiff(model, xs);
    t.diagnostic(`${arch}: max difference ${d.toExponential(2)}`);
    assert.ok(d < TOLERANCE, `${arch}: ${d}`);
    if (arch === 'resnet') {
      const ours = await kernelNames(() => inferenceForward(model)(xs));
      const theirs = await kernelNames(() => model.predict(xs) as tf.Tensor);
      assert.ok(count(theirs, 'FusedBatchNorm') > 0, 'predict() runs the batch norms on their own');
      assert.equal(count(ours, 'FusedBatchNorm'), 0, 'every batch norm follows a convolution: all folded');
      // Only the ReLUs after the residual additions stay separate: one per block, 3 stages × depth 2.
      assert.equal(count(ours, 'Relu'), 6);
      assert.ok(count(theirs, 'Relu') > 6);
    }
    xs.dispose();
    model.dispose();
  }
});

test('a grey 5×5 convolution and its 2×2 pool run over 2×2 blocks from a batch of 64, with the same outputs', async () => {
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 28, channels: 1, seed: 4 }), 10);
  const xs = input([64, 28, 28, 1], 5);
  assert.ok(maxDiff(model, xs) < TOLERANCE);
  const profile = await tf.profile(() => tf.tidy(() => void inferenceForward(model)(xs).dataSync()));
  const convs = profile.kernels.filter((k) => k.name === 'FusedConv2D').map((k) => k.inputShapes[0]!.join('×'));
  assert.deepEqual(convs, ['64×14×14×4', '64×14×14×6'], 'conv1 over 2×2 blocks of the image, conv2 as it was');
  assert.deepEqual(profile.kernels.filter((k) => k.name === 'MaxPool').map((k) => k.inputShapes[0]!.join('×')), ['896×14×4×6', '64×10×10×16']);
  // Below 64 images the rearrangement does not pay: the plain convolution and pool, the same outputs.
  const few = input([8, 28, 28, 1], 6);
  assert.ok(maxDiff(model, few) < TOLERANCE);
  const small = await tf.profile(() => tf.tidy(() => void inferenceForward(model)(few).dataSync()));
  assert.equal(small.kernels.find((k) => k.name === 'FusedConv2D')!.inputShapes[0]!.join('×'), '8×28×28×1');
  xs.dispose();
  few.dispose();
  model.dispose();
});

test('the block convolution equals convolution then pooling for every padding, pool, kernel and size it accepts', () => {
  let checked = 0;
  for (const [h, w] of [[28, 28], [12, 18], [30, 14]] as const)
    for (const [kh, kw] of [[5, 5], [6, 6], [7, 5], [5, 8]] as const)
      for (const padding of ['same', 'valid'] as const)
        for (const pool of ['max', 'avg'] as const) {
          const plan = phasePlan(h, w, 1, kh, kw, 3, padding, pool);
          assert.ok(plan, `${h}×${w} k${kh}×${kw} ${padding}`);
          const seed = h * 1000 + kh * 10 + kw;
          const x = input([2, h, w, 1], seed);
          const kernel = tf.tensor4d(values(kh * kw * 3, seed + 1, 0.5), [kh, kw, 1, 3]);
          const bias = tf.tensor1d(values(3, seed + 2, 0.5));
          for (const activation of ['relu', 'linear'] as const) {
            const want = tf.tidy(() => {
              const y = tf.fused.conv2d({ x, filter: kernel, strides: 1, pad: padding, bias, activation });
              return pool === 'max' ? tf.maxPool(y, 2, 2, 'valid') : tf.avgPool(y, 2, 2, 'valid');
            });
            const got: tf.Tensor4D = tf.tidy(() => phaseConvPool(plan, x, kernel, bias, activation));
            assert.deepEqual(got.shape, want.shape, `${h}×${w} k${kh}×${kw} ${padding}: shape`);
            const [a, b] = [got.dataSync(), want.dataSync()];
            let d = 0;
            for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
            assert.ok(d < TOLERANCE, `${h}×${w} k${kh}×${kw} ${padding} ${pool} ${activation}: ${d}`);
            tf.dispose([got, want]);
            checked++;
          }
          tf.dispose([x, kernel, bias]);
        }
  assert.equal(checked, 96);
  // What it refuses: more than one channel, kernels under 5 (4× the work), odd sizes, nothing left to pool.
  assert.equal(phasePlan(28, 28, 3, 5, 5, 6, 'same', 'max'), null);
  assert.equal(phasePlan(28, 28, 1, 3, 3, 16, 'same', 'max'), null);
  assert.equal(phasePlan(27, 28, 1, 5, 5, 6, 'same', 'max'), null);
  assert.equal(phasePlan(6, 6, 1, 6, 6, 6, 'valid', 'max'), null);
});

test('the plan reads the current weights: new weights after planning (a model that trains) give the new outputs', () => {
  const model = buildModel(trainConfigSchema.parse({ arch: 'resnet', imageSize: 16, channels: 1, seed: 5, width: 4, depth: 1 }), 3);
  const xs = input([4, 16, 16, 1], 2);
  const before = tf.tidy(() => inferenceForward(model)(xs).dataSync());
  shakeBatchNorms(model, 40);
  model.layers.find((l) => l.name === 'stem/conv')!.weights[0]!.write(tf.mul(model.layers.find((l) => l.name === 'stem/conv')!.weights[0]!.read(), 2));
  const after = tf.tidy(() => inferenceForward(model)(xs).dataSync());
  assert.ok(after.some((v, i) => Math.abs(v - before[i]!) > 1e-3), 'the outputs moved with the weights');
  assert.ok(maxDiff(model, xs) < TOLERANCE);
  xs.dispose();
  model.dispose();
});

test('graphs that must not fold: a convolution read by two layers, a ReLU after an addition, norms without γ or β', async () => {
  const x0 = tfl.input({ shape: [10, 10, 3] });
  const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: true, name: 'c' }).apply(x0) as tfl.SymbolicTensor;
  // The convolution's output feeds the batch norm and the addition: folding would change what the addition sees.
  const bn = batchNormalization({ name: 'bn', momentum: 0.9, epsilon: 1e-3 }).apply(conv) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'add' }).apply([bn, conv]) as tfl.SymbolicTensor;
  let y = tfl.layers.reLU({ name: 'relu' }).apply(sum) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 5, kernelSize: 1, strides: 2, useBias: false, name: 'c2' }).apply(y) as tfl.SymbolicTensor;
  y = batchNormalization({ name: 'bn2', center: false, momentum: 0.9, epsilon: 1e-3 }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.activation({ activation: 'relu', name: 'r2' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'mp' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.flatten({ name: 'f' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.dense({ units: 6, useBias: false, name: 'd' }).apply(y) as tfl.SymbolicTensor;
  y = batchNormalization({ name: 'bn3', scale: false, momentum: 0.9, epsilon: 1e-3 }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.activation({ activation: 'relu', name: 'r3' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(y) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x0, outputs: y });
  model.setWeights(model.weights.map((w, i) => tf.tensor(values(w.shape.reduce<number>((a, d) => a * (d ?? 1), 1), 70 + i, 0.5, /variance/.test(w.name) ? 1 : 0), w.shape as number[])));
  const xs = input([3, 10, 10, 3], 9);
  assert.ok(maxDiff(model, xs) < TOLERANCE);
  assert.equal(count(await kernelNames(() => inferenceForward(model)(xs)), 'FusedBatchNorm'), 0, 'planned, not sent through predict()');
  xs.dispose();
  model.dispose();
});

test('a layer it does not know sends the whole model through predict()', async () => {
  const x0 = tfl.input({ shape: [8, 8, 1] });
  let y = tfl.layers.zeroPadding2d({ padding: 1, name: 'pad' }).apply(x0) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 2, kernelSize: 3, useBias: false, name: 'c' }).apply(y) as tfl.SymbolicTensor;
  y = batchNormalization({ name: 'bn', momentum: 0.9, epsilon: 1e-3 }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(y) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x0, outputs: y });
  shakeBatchNorms(model, 3);
  const xs = input([2, 8, 8, 1], 4);
  assert.equal(maxDiff(model, xs), 0, 'the same kernels as predict(): the same numbers');
  assert.ok((await kernelNames(() => inferenceForward(model)(xs))).includes('FusedBatchNorm'));
  xs.dispose();
  model.dispose();
});
