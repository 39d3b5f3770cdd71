/**
 * One shard's share of a training step: the same function on the fit loop's thread and on every gradient thread
 * (parallel/gradient-thread.ts), so data-parallel training computes exactly what a single thread would, up to the
 * order in which float32 gradients are added.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { withFusedActivations } from './kernels/activation.ts';

/** Per-image cross-entropy of softmax outputs, clipped as Keras does for probabilities. */
export function perImageCrossEntropy(probs: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Tensor1D {
  const oneHot = tf.oneHot(labels, numClasses);
  const logp = tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7));
  return tf.neg(tf.sum(tf.mul(oneHot, logp), 1)) as tf.Tensor1D;
}

/**
 * The loss weight of a batch: its size, or with class weights the sum of its images' weights (PyTorch's
 * CrossEntropyLoss(weight=…) normalizes the weighted sum by it).
 */
export function batchWeight(ys: Int32Array, n: number, classWeights: readonly number[] | null): number {
  if (!classWeights) return n;
  let w = 0;
  for (let i = 0; i < n; i++) w += classWeights[ys[i]!]!;
  return w;
}

export interface ShardInput {
  xs: Float32Array;
  ys: Int32Array;
  n: number;
}

export interface ShardGradients {
  /** One gradient per variable, in the order asked for. Kept: the caller disposes them. */
  grads: tf.Tensor[];
  /** This shard's share of the batch loss, its correct predictions and the sum of its probabilities. */
  loss: number;
  hits: number;
  mass: number;
}

export interface ShardContext {
  model: tfl.LayersModel;
  vars: tf.Variable[];
  shape: readonly [number, number, number];
  numClasses: number;
  /** Class weights as a tensor (kept by the caller), or null. */
  classWeights: tf.Tensor1D | null;
  /** L2 penalty wd/2·‖w‖² over these kernels (its gradient is PyTorch's weight_decay·w); one shard carries it. */
  decay: { vars: tf.Variable[]; weightDecay: number } | null;
  /**
   * At most this many images per forward and backward pass (step-memory.ts: what fits in memory); a larger shard
   * goes through in parts whose gradients add up. Absent or null: the whole shard at once.
   */
  imagesPerPass?: number | null;
}

/**
 * Gradients of the shard's weighted cross-entropy divided by the whole batch's weight: the shards' gradients and
 * losses add up to those of the batch's mean loss. A shard larger than `imagesPerPass` goes through in parts the
 * same way (the weight decay rides on the first), their gradients added in order.
 */
export async function shardGradients(c: ShardContext, s: ShardInput, totalWeight: number): Promise<ShardGradients> {
  const per = c.imagesPerPass;
  if (!per || per >= s.n) return passGradients(c, s, totalWeight);
  const perImage = c.shape[0] * c.shape[1] * c.shape[2];
  let sum: ShardGradients | null = null;
  for (const part of shards(s, perImage, Math.ceil(s.n / per))) {
    const r = await passGradients(sum ? { ...c, decay: null } : c, part, totalWeight);
    if (!sum) {
      sum = r;
      continue;
    }
    const previous: tf.Tensor[] = sum.grads;
    sum = { grads: previous.map((g, i) => tf.add(g, r.grads[i]!)), loss: sum.loss + r.loss, hits: sum.hits + r.hits, mass: sum.mass + r.mass };
    tf.dispose([...previous, ...r.grads]);
  }
  return sum!;
}

async function passGradients(c: ShardContext, s: ShardInput, totalWeight: number): Promise<ShardGradients> {
  let hits: tf.Tensor | null = null;
  // The sum of the probabilities: NaN or Infinity there means the network blew up, even when the clipped loss
  // still looks finite (clipping maps NaN into range on some backends).
  let mass: tf.Tensor | null = null;
  const { value, grads } = tf.tidy(() => {
    const xs = tf.tensor4d(s.xs, [s.n, ...c.shape]);
    const ys = tf.tensor1d(s.ys.subarray(0, s.n), 'int32');
    return tf.variableGrads(() => {
      const probs = withFusedActivations(c.model, () => c.model.apply(xs, { training: true }) as tf.Tensor2D);
      // Made inside variableGrads' own scope, which disposes what the loss does not return: keep them.
      hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, 1), ys), 'float32')));
      mass = tf.keep(tf.sum(probs));
      const perImage = perImageCrossEntropy(probs, ys, c.numClasses);
      const weighted = c.classWeights ? tf.mul(perImage, tf.gather(c.classWeights, ys)) : perImage;
      let loss = tf.div(tf.sum(weighted), totalWeight);
      if (c.decay && c.decay.vars.length) {
        loss = tf.add(loss, tf.mul(c.decay.weightDecay / 2, tf.addN(c.decay.vars.map((v) => tf.sum(tf.square(v))))));
      }
      return loss as tf.Scalar;
    }, c.vars);
  });
  const hitTensor = hits as tf.Tensor | null;
  const massTensor = mass as tf.Tensor | null;
  try {
    return {
      grads: c.vars.map((v) => grads[v.name]!),
      loss: (await value.data())[0]!,
      hits: hitTensor ? (await hitTensor.data())[0]! : 0,
      mass: massTensor ? (await massTensor.data())[0]! : 0,
    };
  } finally {
    value.dispose();
    hitTensor?.dispose();
    massTensor?.dispose();
  }
}

/** `n` items cut into `parts` contiguous ranges of near-equal size (fewer when there are fewer items). */
export function cut(n: number, parts: number): { start: number; n: number }[] {
  const k = Math.max(1, Math.min(parts, n));
  const out: { start: number; n: number }[] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push({ start, n: size });
    start += size;
  }
  return out;
}

/** A batch cut into `parts` contiguous shards of near-equal size (fewer when the batch is smaller). */
export function shards(s: ShardInput, perImage: number, parts: number): ShardInput[] {
  return cut(s.n, parts).map((r) => ({
    xs: s.xs.subarray(r.start * perImage, (r.start + r.n) * perImage),
    ys: s.ys.subarray(r.start, r.start + r.n),
    n: r.n,
  }));
}
