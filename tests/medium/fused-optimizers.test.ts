// The optimizers training runs (electron/core/training/fused-optimizers.ts, through optimizer.ts) against tfjs's own,
// on the wasm backend with Loupe's SIMD kernels: after several steps (learning-rate changes between them, values
// from subnormal to huge, zeros, a variable whose gradient is missing) every weight and every slot is tfjs's, bit
// for bit; the slots keep tfjs's names; no tensor is left behind; and the SIMD kernel, not tfjs's path, made every
// step after the first.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { loadSimdKernels } from '../../electron/core/training/kernels/simd.ts';
import { makeOptimizer, setLearningRate } from '../../electron/core/training/optimizer.ts';
import type { OptimizerConfig } from '../../shared/training.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { simdCalls } from '../helpers/simd-calls.ts';

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
  assert.equal(await loadSimdKernels(tf.backend()), null);
});

// Whole vectors of four and the scalar tails past them: forty 3-value variables give the tails as many values as the
// vectors get in the others.
const SHAPES = [[5, 6], [7], [1], [64, 10], [3, 3, 2, 4], ...Array.from({ length: 40 }, () => [3])];

/** Values across float32's range: ordinary ones, subnormals, zeros of both signs, huge ones. */
function wide(n: number, seed: number): Float32Array {
  const v = seededValues(n, seed);
  const scale = [1, 1e-3, 1e-38, 1e-42, 1e30];
  for (let i = 0; i < n; i++) v[i] = i % 11 === 4 ? (i % 2 ? -0 : 0) : v[i]! * scale[i % scale.length]!;
  return v;
}

let serial = 0;
function variables(seed: number): tf.Variable[] {
  serial++;
  return SHAPES.map((s, i) => tf.variable(tf.tensor(wide(s.reduce((a, b) => a * b, 1), seed + i), s), true, `fused-test-${serial}-${i}`));
}

function assertBitEqual(got: tf.Tensor, want: tf.Tensor, what: string): void {
  const a = got.dataSync();
  const b = want.dataSync();
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: value ${i} is ${a[i]}, tfjs's optimizer gives ${b[i]}`);
}

function stock(c: OptimizerConfig): tf.Optimizer {
  if (c.kind === 'sgd') return tf.train.momentum(c.lr, c.momentum, c.nesterov);
  if (c.kind === 'adam') return tf.train.adam(c.lr, c.beta1, c.beta2, 1e-8);
  throw new Error('not fused');
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false },
  { kind: 'sgd', lr: 0.1, momentum: 0.85, nesterov: true },
  { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999 },
  { kind: 'adam', lr: 0.3, beta1: 0.5, beta2: 0.75 },
];

for (const config of CONFIGS) {
  test(`${JSON.stringify(config)}: weights and slots are tfjs's own, bit for bit, and SIMD made every step after the first`, async () => {
    const theirs = variables(1);
    const ours = variables(1);
    const ref = stock(config);
    const fused = makeOptimizer(config);
    const STEPS = 6;
    let calls = 0;
    for (let step = 0; step < STEPS; step++) {
      if (step === 3) {
        setLearningRate(ref, config.lr * 0.37);
        setLearningRate(fused, config.lr * 0.37);
      }
      const grads = SHAPES.map((s, i) => tf.tensor(wide(s.reduce((a, b) => a * b, 1), 100 * step + i), s));
      // The third variable has no gradient on the fifth step (a layer outside the loss): both must leave it be.
      const named = (vars: tf.Variable[]) => vars.map((v, i) => ({ name: v.name, tensor: step === 4 && i === 2 ? (null as unknown as tf.Tensor) : grads[i]! }));
      ref.applyGradients(named(theirs));
      const tensors = tf.memory().numTensors;
      const made = simdCalls(['momentum', 'adam'], () => fused.applyGradients(named(ours)));
      if (step > 0) assert.equal(tf.memory().numTensors, tensors, 'no tensor left behind');
      if (step > 0) calls += made;
      else assert.equal(made, 0, 'the first step (which makes the slots) is tfjs\'s own');
      tf.dispose(grads);
    }
    // One call per variable with a gradient, every step after the first.
    assert.equal(calls, (STEPS - 1) * SHAPES.length - 1);
    ours.forEach((v, i) => assertBitEqual(v, theirs[i]!, `weight ${i}`));
    const [wa, wb] = [await fused.getWeights(), await ref.getWeights()];
    assert.deepEqual(
      wa.map((w) => w.name.replace(/^fused-test-\d+/, '')),
      wb.map((w) => w.name.replace(/^fused-test-\d+/, '')),
      'slot names',
    );
    wa.forEach((w, i) => assertBitEqual(w.tensor, wb[i]!.tensor, `slot ${wb[i]!.name}`));
    ref.dispose();
    fused.dispose();
    tf.dispose([...theirs, ...ours]);
  });
}

test('on a backend without the SIMD kernels the optimizers are tfjs\'s own code', async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  try {
    const config: OptimizerConfig = { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999 };
    const theirs = variables(7);
    const ours = variables(7);
    const ref = stock(config);
    const fused = makeOptimizer(config);
    for (let step = 0; step < 3; step++) {
      const grads = SHAPES.map((s, i) => tf.tensor(wide(s.reduce((a, b) => a * b, 1), 10 * step + i), s));
      ref.applyGradients(theirs.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      fused.applyGradients(ours.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      tf.dispose(grads);
    }
    ours.forEach((v, i) => assertBitEqual(v, theirs[i]!, `weight ${i}`));
    ref.dispose();
    fused.dispose();
    tf.dispose([...theirs, ...ours]);
  } finally {
    await tf.setBackend('wasm');
  }
});
