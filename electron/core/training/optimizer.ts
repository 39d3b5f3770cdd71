/**
 * The optimizers a run trains with, made the same way on the fit loop's thread and on every gradient thread: each
 * thread keeps a replica of the model and of the optimizer, and applies the same summed gradients to it (see
 * parallel/protocol.ts), so the replicas stay identical to the fit loop's model, bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from '../../../shared/training.ts';
import { FusedAdam, FusedMomentum } from './fused-optimizers.ts';

export function makeOptimizer(c: OptimizerConfig): tf.Optimizer {
  switch (c.kind) {
    case 'sgd':
      // tfjs's optimizers, each variable updated by one SIMD kernel where there is one (fused-optimizers.ts).
      return c.momentum > 0 ? new FusedMomentum(c.lr, c.momentum, c.nesterov) : tf.train.sgd(c.lr);
    case 'adam':
      return new FusedAdam(c.lr, c.beta1, c.beta2, 1e-8);
    case 'rmsprop':
      // PyTorch's eps default (1e-8) and no centering, like the seed's RMSprop.
      return tf.train.rmsprop(c.lr, c.decay, c.momentum, 1e-8, false);
  }
}

export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  // SGD and momentum keep a negated scalar of the rate; Adam and RMSprop read the field.
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  o.learningRate = lr;
}

/** An optimizer slot (or its iteration count) as plain data, for a message to a thread. */
export interface SlotValue {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

export function slotValues(weights: readonly { name: string; tensor: tf.Tensor }[]): SlotValue[] {
  return weights.map(({ name, tensor }) => {
    const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
    // Copies: on the cpu backend dataSync hands out the tensor's own storage.
    const data = tensor.dataSync();
    const values = dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
    return { name, shape: [...tensor.shape], dtype, values };
  });
}

/** Slots back as tensors, for Optimizer.setWeights (which keeps them: the caller disposes them after). */
export function slotTensors(slots: readonly SlotValue[]): { name: string; tensor: tf.Tensor }[] {
  return slots.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, s.shape, s.dtype) }));
}
