// One training step of a small model on a chosen backend, and its comparison with a reference step: what the
// tests of Loupe's training layers (batch-norm.ts, relu-bias.ts) check against tfjs's own layers.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** max |a − b| over max |b|: one number per tensor, independent of its scale. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-6);
}

export interface StepResult {
  loss: number;
  /** Weight gradients by variable name (the uniquifying suffix dropped). */
  grads: [string, Float32Array][];
  inputGrad: Float32Array;
  /** Weights whose name contains "moving" (a batch norm's statistics), after the step. */
  moving: [string, Float32Array][];
}

/** Softmax cross-entropy of `build()` on x, labels i mod `classes`, in training mode: loss and every gradient. */
export async function trainingStep(backend: string, build: () => tfl.LayersModel, x: Float32Array, shape: number[], classes: number): Promise<StepResult> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const model = build();
    const xs = tf.tensor(x, shape);
    const ys = tf.oneHot(tf.tensor1d([...Array(shape[0]).keys()].map((i) => i % classes), 'int32'), classes);
    const loss = (input: tf.Tensor) => tf.losses.softmaxCrossEntropy(ys, model.apply(input, { training: true }) as tf.Tensor) as tf.Scalar;
    const { value, grads } = tf.variableGrads(() => loss(xs));
    const inputGrad = tf.grad((input: tf.Tensor) => loss(input))(xs);
    const result: StepResult = {
      loss: value.dataSync()[0]!,
      grads: Object.entries(grads).map(([k, g]) => [k.replace(/_\d+$/, ''), g.dataSync() as Float32Array]),
      inputGrad: inputGrad.dataSync() as Float32Array,
      moving: model.weights.filter((w) => w.name.includes('moving')).map((w) => [w.name, w.read().dataSync() as Float32Array]),
    };
    tf.dispose([xs, ys, value, inputGrad, ...Object.values(grads)]);
    model.dispose();
    return result;
  } finally {
    await tf.setBackend(previous);
  }
}

/** Asserts the same loss, weight gradients, input gradient and moving statistics; returns the worst relative error. */
export function assertSameStep(got: StepResult, want: StepResult, what: string, tolerance = 1e-4): number {
  assert.ok(Math.abs(got.loss - want.loss) < 1e-5 * Math.max(1, Math.abs(want.loss)), `${what}: loss ${got.loss} vs ${want.loss}`);
  assert.deepEqual(got.grads.map(([n]) => n), want.grads.map(([n]) => n), what);
  let worst = 0;
  const check = (name: string, a: Float32Array, b: Float32Array) => {
    const err = relativeError(a, b);
    worst = Math.max(worst, err);
    assert.ok(err < tolerance, `${what}: ${name} relative error ${err}`);
  };
  got.grads.forEach(([name, g], i) => check(`gradient ${name}`, g, want.grads[i]![1]));
  check('input gradient', got.inputGrad, want.inputGrad);
  got.moving.forEach(([name, m], i) => check(name, m, want.moving[i]![1]));
  return worst;
}
