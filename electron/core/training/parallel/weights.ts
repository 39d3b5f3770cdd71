/**
 * A model's weights, and a step's gradients, as one flat array: how they travel between the fit loop and its threads.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export function flatWeights(model: tfl.LayersModel): Float32Array {
  const values = model.weights.map((w) => w.read().dataSync() as Float32Array);
  const out = new Float32Array(values.reduce((a, v) => a + v.length, 0));
  let at = 0;
  for (const v of values) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

export function setFlatWeights(model: tfl.LayersModel, flat: Float32Array): void {
  tf.tidy(() => {
    let at = 0;
    const values = model.weights.map((w) => {
      const size = w.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
      const t = tf.tensor(flat.subarray(at, at + size), w.shape as number[]);
      at += size;
      return t;
    });
    if (at !== flat.length) throw new Error(`weights do not match the model: ${flat.length} values for ${at}`);
    model.setWeights(values);
  });
}

/** Flat gradients (or any values) back as one tensor per variable, in order (the caller disposes them). */
export function gradientTensors(flat: Float32Array, vars: readonly { shape: number[]; size: number }[]): tf.Tensor[] {
  let at = 0;
  const out = vars.map((v) => {
    const g = tf.tensor(flat.subarray(at, at + v.size), v.shape);
    at += v.size;
    return g;
  });
  if (at !== flat.length) {
    tf.dispose(out);
    throw new Error(`gradients do not match the model: ${flat.length} values for ${at}`);
  }
  return out;
}
