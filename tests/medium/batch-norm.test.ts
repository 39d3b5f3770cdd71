// Loupe's BatchNormalization (electron/core/training/kernels/batch-norm.ts): its training pass and closed-form
// gradient — the fused kernels on wasm, the composed ops on cpu — against tfjs's own layer on the cpu backend,
// with the same weights: loss, every weight gradient, the input gradient and the moving statistics. Saved models
// stay plain tfjs BatchNormalization layers.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadSimdKernels } from '../../electron/core/training/kernels/simd.ts';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { BatchNormalization, batchNormalization } from '../../electron/core/training/kernels/batch-norm.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { assertSameStep, relativeError, trainingStep } from '../helpers/layer-parity.ts';

const TOLERANCE = 1e-4;

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
  // The kernels as training runs them: the SIMD passes (simd-kernels.test.ts holds them to the JS ones).
  assert.equal(await loadSimdKernels(tf.backend()), null);
});

const values = seededValues;

type Factory = (args: { name: string; momentum: number; epsilon: number }) => tfl.layers.Layer;
const stock: Factory = (a) => tfl.layers.batchNormalization(a);
const ours: Factory = (a) => batchNormalization(a);

/** conv → BN → relu → conv → BN → relu → GAP → dense → BN (rank 2) → relu → dense → softmax; fixed weights. */
function net(bn: Factory, size: number, channels: number): tfl.LayersModel {
  const input = tfl.input({ shape: [size, size, channels] });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }).apply(input) as tfl.SymbolicTensor;
  x = bn({ name: 'bn1', momentum: 0.9, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  // No bias before a batch norm: its true gradient is zero, and comparing two roundings of zero says nothing.
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'c2' }).apply(x) as tfl.SymbolicTensor;
  x = bn({ name: 'bn2', momentum: 0.9, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  // A nonlinearity after each batch norm: through linear layers alone a BN's input gradient sums to zero, and
  // so would the β gradient of the BN before it.
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 5, useBias: false, name: 'd' }).apply(x) as tfl.SymbolicTensor;
  x = bn({ name: 'bn3', momentum: 0.9, epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 4, name: 'out' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.softmax().apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  // The same weights in every copy; BN scales and shifts away from 1 and 0 so their gradients matter.
  model.setWeights(model.weights.map((w, i) => tf.tensor(values(w.shape.reduce<number>((a, d) => a * (d ?? 1), 1), 100 + i, 0.5, w.name.includes('variance') ? 1 : 0), w.shape as number[])));
  return model;
}

test('training steps match tfjs\'s own layer: loss, weight and input gradients, moving statistics', async (t) => {
  const shape: [number, number, number, number] = [5, 9, 9, 3];
  const x = values(shape.reduce((a, b) => a * b), 7);
  // Moving statistics are updated twice per step here (variableGrads and grad each run the forward pass).
  const step = (backend: string, bn: Factory) => trainingStep(backend, () => net(bn, shape[1], shape[3]), x, shape, 4);
  const reference = await step('cpu', stock);
  assert.equal(reference.grads.length, 11, 'two convs, two dense layers (one bias) and three batch norms (γ, β each)');
  const fused = assertSameStep(await step('wasm', ours), reference, 'wasm (fused kernels)', TOLERANCE);
  const composed = assertSameStep(await step('cpu', ours), reference, 'cpu (composed ops)', TOLERANCE);
  t.diagnostic(`worst relative error: fused ${fused.toExponential(2)}, composed ${composed.toExponential(2)}`);
});

/** One layer on its own, n rows of c channels around `offset`, against the formulas in float64, on wasm and cpu. */
async function checkAgainstFloat64(n: number, c: number, offset: number): Promise<void> {
  const x = values(n * c, 11, 1, offset);
  const r = values(n * c, 12);
  const gamma = Array.from({ length: c }, (_, i) => 0.5 + 0.75 * i);
  const beta = Array.from({ length: c }, (_, i) => 0.1 * (i % 2 ? -i : i + 1));
  const want = { dx: new Float64Array(n * c), dGamma: new Array<number>(c).fill(0), dBeta: new Array<number>(c).fill(0), variance: new Array<number>(c).fill(0) };
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * c + ch]! / n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (x[i * c + ch]! - mean) ** 2 / n;
    const sigma = Math.sqrt(variance + 1e-5);
    const xhat = (i: number) => (x[i * c + ch]! - mean) / sigma;
    for (let i = 0; i < n; i++) {
      want.dBeta[ch]! += r[i * c + ch]!;
      want.dGamma[ch]! += r[i * c + ch]! * xhat(i);
    }
    for (let i = 0; i < n; i++) want.dx[i * c + ch] = (gamma[ch]! / sigma) * (r[i * c + ch]! - want.dBeta[ch]! / n - (xhat(i) * want.dGamma[ch]!) / n);
    want.variance[ch] = 0.9 * 1 + 0.1 * variance;
  }
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const layer = batchNormalization({ name: 'bn', momentum: 0.9, epsilon: 1e-5 });
    const input = tfl.input({ shape: [c] });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    model.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.zeros([c]), tf.ones([c])]);
    const xs = tf.tensor2d(x, [n, c]);
    const rs = tf.tensor2d(r, [n, c]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(model.apply(t, { training: true }) as tf.Tensor, rs)) as tf.Scalar;
    const dx = tf.grad(f)(xs);
    const movingVariance = model.weights.find((w) => w.name.includes('moving_variance'))!.read().dataSync();
    const { grads } = tf.variableGrads(() => f(xs));
    const byName = (part: string) => Object.entries(grads).find(([k]) => k.includes(part))![1].dataSync();
    assert.ok(relativeError(dx.dataSync(), want.dx) < 1e-3, `${backend}: dx ${relativeError(dx.dataSync(), want.dx)}`);
    assert.ok(relativeError(byName('gamma'), want.dGamma) < 1e-3, `${backend}: dγ`);
    assert.ok(relativeError(byName('beta'), want.dBeta) < 1e-4, `${backend}: dβ`);
    assert.ok(relativeError(movingVariance, want.variance) < 1e-4, `${backend}: moving variance ${[...movingVariance]} vs ${want.variance}`);
    tf.dispose([xs, rs, dx, ...Object.values(grads)]);
    model.dispose();
  }
  await tf.setBackend('wasm');
}

test('activations far from zero (a raw CT slice in Hounsfield units) keep their variance and gradients', async () => {
  // Mean ~1000, spread ~1: a naive Σx² − N·μ² in float32 loses every digit of the variance (a conv in front would
  // add each backend's own float32 rounding of 1000·w).
  await checkAgainstFloat64(50, 3, 1000);
});

test('many rows in groups of four channels and a remainder: the kernels carry their sums across row blocks', async () => {
  // 9,000 rows of 6 channels: several of the kernels' cache blocks, one group of four channels and two on their own.
  await checkAgainstFloat64(9000, 6, 3);
});

test('the wasm path runs one kernel each way, not the composed ops', async () => {
  const model = net(ours, 8, 2);
  const xs = tf.tensor(values(2 * 8 * 8 * 2, 3), [2, 8, 8, 2]);
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  });
  const names = profile.kernels.map((k) => k.name);
  assert.equal(names.filter((n) => n === 'LoupeBatchNormTrain').length, 3);
  assert.equal(names.filter((n) => n === 'LoupeBatchNormGrad').length, 3);
  assert.ok(!names.includes('Tile') && !names.includes('FusedBatchNorm'), `no tiled or composed batch norm: ${[...new Set(names)].join(' ')}`);
  xs.dispose();
  model.dispose();
});

test('repeated training steps leak no tensors', () => {
  const model = net(ours, 8, 2);
  const xs = tf.tensor(values(2 * 8 * 8 * 2, 3), [2, 8, 8, 2]);
  const step = () => tf.tidy(() => tf.variableGrads(() => tf.sum(model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar).value.dataSync());
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
  xs.dispose();
  model.dispose();
});

test('a saved model is plain tfjs: class name BatchNormalization, and it loads back as Loupe\'s layer with the same outputs', async () => {
  const model = net(ours, 8, 2);
  const json = JSON.stringify(model.toJSON(null, false));
  assert.ok(!/Loupe/i.test(json));
  assert.equal((json.match(/"class_name":"BatchNormalization"/g) ?? []).length, 3);
  const saved = await new Promise<tf.io.ModelArtifacts>((resolve) => void model.save(tf.io.withSaveHandler(async (a) => (resolve(a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }))));
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
  assert.ok(loaded.layers.filter((l) => l.getClassName() === 'BatchNormalization').every((l) => l instanceof BatchNormalization));
  const xs = tf.tensor(values(2 * 8 * 8 * 2, 5), [2, 8, 8, 2]);
  const a = (model.predict(xs) as tf.Tensor).dataSync();
  const b = (loaded.predict(xs) as tf.Tensor).dataSync();
  assert.ok(relativeError(b, a) < 1e-6);
  tf.dispose(xs);
  model.dispose();
  loaded.dispose();
});

/** Loss, every weight gradient and the moving statistics of one training step of `model`, through `run`; the kernels run. */
async function stepOf(model: tfl.LayersModel, xs: tf.Tensor4D, labels: number[], classes: number, run: (f: () => tf.Tensor) => tf.Tensor): Promise<{ values: Float32Array[]; kernels: string[] }> {
  let values: Float32Array[] = [];
  const info = await tf.profile(() => {
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, run(() => model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar);
    values = [value, ...Object.values(grads), ...model.weights.filter((w) => w.name.includes('moving')).map((w) => w.read())].map((t) => t.dataSync() as Float32Array);
    tf.dispose([ys, value, ...Object.values(grads)]);
  });
  return { values, kernels: info.kernels.map((k) => k.name) };
}

function assertSameValues(got: Float32Array[], want: Float32Array[], what: string): void {
  assert.equal(got.length, want.length, what);
  got.forEach((g, k) => {
    for (let i = 0; i < g.length; i++) {
      // The same values; a zero's sign may differ (max(x, 0) gives +0 for −0, as tfjs's Relu on wasm does).
      if (!(g[i] === want[k]![i] || (Number.isNaN(g[i]) && Number.isNaN(want[k]![i])))) assert.fail(`${what}: tensor ${k} value ${i}: ${g[i]} against ${want[k]![i]}`);
    }
  });
}

test('a ReLU layer after a batch norm or a residual sum runs inside it while a model trains: the same step bit for bit, fewer passes', async () => {
  const { compactResnet } = await import('../../electron/core/training/models.ts');
  const { withFusedActivations } = await import('../../electron/core/training/kernels/activation.ts');
  const spec = { imageSize: 12, channels: 1 as const, numClasses: 3, dropout: 0, seed: 5, width: 4, depth: 1 };
  const xs = tf.tensor4d(values(6 * 12 * 12, 21), [6, 12, 12, 1]);
  const labels = [0, 1, 2, 0, 1, 2];
  const plain = compactResnet(spec);
  const fused = compactResnet(spec);
  const want = await stepOf(plain, xs, labels, 3, (f) => f());
  const got = await stepOf(fused, xs, labels, 3, (f) => withFusedActivations(fused, f));
  assertSameValues(got.values, want.values, 'fused against unfused');
  // The stem's and each block's first batch norm take their ReLU (4 of 7) with its gradient; the residual sums take
  // the other three, whose gradient stays a pass of its own.
  const count = (k: string[], name: string) => k.filter((n) => n === name).length;
  assert.deepEqual([count(want.kernels, 'Relu'), count(want.kernels, 'LoupeReluGrad'), count(want.kernels, 'LoupeAddRelu')], [7, 7, 0]);
  assert.deepEqual([count(got.kernels, 'Relu'), count(got.kernels, 'LoupeReluGrad'), count(got.kernels, 'LoupeAddRelu')], [0, 3, 3]);
  // A second step fuses the same way (the plan is kept per model), and the saved model is unchanged: plain layers.
  const again = await stepOf(fused, xs, labels, 3, (f) => withFusedActivations(fused, f));
  assertSameValues(again.values, (await stepOf(plain, xs, labels, 3, (f) => f())).values, 'second step');
  const classes = fused.layers.map((l) => l.getClassName());
  assert.equal(classes.filter((c) => c === 'Activation').length, 7 + 1, 'seven ReLU layers and the softmax');
  tf.dispose([xs]);
  plain.dispose();
  fused.dispose();
});

test('a batch norm whose output leaves the model, or goes anywhere but one ReLU, keeps its ReLU apart', async () => {
  const { activation, withFusedActivations } = await import('../../electron/core/training/kernels/activation.ts');
  const input = tfl.input({ shape: [4, 4, 2] });
  const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false }).apply(input) as tfl.SymbolicTensor;
  const bn = batchNormalization({ name: 'bn_out', momentum: 0.9, epsilon: 1e-5 }).apply(conv) as tfl.SymbolicTensor;
  const relu = activation({ activation: 'relu' }).apply(bn) as tfl.SymbolicTensor;
  const whole = tfl.model({ inputs: input, outputs: relu });
  // The same layers, cut at the batch norm: its output is this model's.
  const cut = tfl.model({ inputs: input, outputs: bn });
  const xs = tf.tensor4d(values(2 * 4 * 4 * 2, 3), [2, 4, 4, 2]);
  const y = withFusedActivations(cut, () => cut.apply(xs, { training: true }) as tf.Tensor);
  assert.ok(y.dataSync().some((v) => v < 0), 'the cut model gives the batch norm\'s output, negatives included');
  const r = withFusedActivations(whole, () => whole.apply(xs, { training: true }) as tf.Tensor);
  assert.ok(r.dataSync().every((v) => v >= 0), 'the whole model rectifies');
  assertSameValues([r.dataSync() as Float32Array], [tf.relu(y).dataSync() as Float32Array], 'whole = relu(cut)');
  // Both outputs of one batch norm (a ReLU and the model's output): unfused.
  const both = tfl.model({ inputs: input, outputs: [relu, bn] });
  const [r2, b2] = withFusedActivations(both, () => both.apply(xs, { training: true }) as tf.Tensor[]);
  assert.ok(b2!.dataSync().some((v) => v < 0));
  assertSameValues([r2!.dataSync() as Float32Array], [tf.relu(b2!).dataSync() as Float32Array], 'both outputs');
  tf.dispose([xs, y, r, r2!, b2!]);
  whole.dispose();
});
