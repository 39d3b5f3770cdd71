// Batch normalization whose training pass has one closed-form gradient.
//
// tfjs-layers trains a BatchNormalization layer as tf.moments followed by tf.batchNorm, and differentiates both
// op by op: the moments' chain (Mean, Sub, Square and their broadcast gradients) and FusedBatchNorm's gradient,
// which tiles 1/σ to the whole activation before multiplying. On wasm that Tile is a scalar index loop: for the
// compact ResNet at 64 px, Tile, Sum and their kin took ~60% of a training step (9.5 s a batch of 64).
// Here the forward pass is the same ops, and the backward pass is the textbook one, with broadcasting:
//   x̂ = (x − μ)/σ,  dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/σ · (dy − dβ/N − x̂·dγ/N)   (Σ and N over all but the channel axis)
// The layer keeps tfjs's class name and config, so saved models are plain BatchNormalization layers that load
// anywhere (the TF.js export in a browser included); registering the class makes loads in this process use it.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN } from './batch-norm-kernels.ts';
import { markRectified, reluFused, type TakesRelu } from './fused-relu.ts';

type BatchNormArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;
type Kwargs = Record<string, unknown>;

interface Variable {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

/** The stock layer's fields this one reads (private in tfjs-layers' typings). */
interface BatchNormFields {
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly gamma: Variable;
  readonly beta: Variable;
  readonly movingMean: Variable;
  readonly movingVariance: Variable;
}

// tfjs-layers does not export its layer classes; the factory's instance leads to it.
const StockBatchNormalization = tfl.layers.batchNormalization({}).constructor as new (args?: BatchNormArgs) => tfl.layers.Layer;

/** Whether Loupe's batch-norm kernels (wasm) run this tensor's training pass. */
function hasKernels(x: tf.Tensor): boolean {
  return tf.getKernel(BATCH_NORM_TRAIN, tf.getBackend()) !== undefined && x.dtype === 'float32';
}

/**
 * Normalizes x over every axis but the last in training mode; returns the output and the batch's moments (kept
 * tensors: the caller disposes them). On a backend with Loupe's batch-norm kernels (wasm) each direction is one
 * kernel; elsewhere the same gradient composed from tfjs ops. `relu` (with the kernels only): the output is
 * max(y, 0) and the gradient is taken through it, what a ReLU layer after this one computes, in the same passes.
 */
export function normalizeInTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number, relu = false): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const fused = hasKernels(x);
  if (relu && !fused) throw new Error('batch norm with a fused ReLU needs Loupe\'s batch-norm kernels');
  let mean: tf.Tensor | null = null;
  let variance: tf.Tensor | null = null;
  const normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const [y, m, v] = fused
      ? (tf.engine().runKernel(BATCH_NORM_TRAIN, { x: xIn, gamma: g, beta: b }, { epsilon, relu }) as tf.Tensor[])
      : composedForward(xIn, g, b, epsilon);
    // customGrad disposes what its forward function made, except the value: the moments leave kept, for the
    // moving averages, and the caller disposes them.
    mean = tf.keep(m!);
    variance = tf.keep(v!);
    // With the ReLU, its output too: positive exactly where the gradient passes (the next layer keeps it anyway).
    save(relu ? [xIn, m!, v!, g, y!] : [xIn, m!, v!, g]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, mu, va, gs, ys] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor | undefined];
        const inputs = { dy, x: xs, mean: mu, variance: va, gamma: gs, ...(ys ? { y: ys } : {}) };
        return fused
          ? (tf.engine().runKernel(BATCH_NORM_GRAD, inputs, { epsilon }) as tf.Tensor[])
          : composedGrad(dy, xs, mu, va, gs, epsilon);
      },
    };
  });
  const y = normalize(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}

function composedForward(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): tf.Tensor[] {
  const m = tf.moments(x, channelAxesOf(x));
  return [tf.batchNorm(x, m.mean, m.variance, beta, gamma, epsilon), m.mean, m.variance];
}

/** dβ = Σ dy,  dγ = Σ dy·(x−μ)/σ,  dx = a·dy + b·(x−μ) + k per channel: a = γ/σ, b = −γ·Σdy(x−μ)/(σ³N), k = −a·dβ/N. */
function composedGrad(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor1D, variance: tf.Tensor1D, gamma: tf.Tensor1D, epsilon: number): tf.Tensor[] {
  const axes = channelAxesOf(x);
  const n = x.size / x.shape[x.rank - 1]!;
  const invStd = tf.rsqrt(tf.add(variance, epsilon));
  const centered = tf.sub(x, mean);
  const dBeta = tf.sum(dy, axes);
  const dyCentered = tf.sum(tf.mul(dy, centered), axes);
  const a = tf.mul(gamma, invStd);
  const b = tf.mul(tf.mul(a, tf.square(invStd)), tf.div(dyCentered, -n));
  const k = tf.mul(a, tf.div(dBeta, -n));
  const dx = tf.add(tf.add(tf.mul(dy, a), tf.mul(centered, b)), k);
  return [dx, tf.mul(dyCentered, invStd), dBeta];
}

/** Every axis but the last (the channels). */
function channelAxesOf(x: tf.Tensor): number[] {
  return x.shape.slice(0, -1).map((_, i) => i);
}

/** tfjs-layers' BatchNormalization with the training pass above; inference and odd layouts are the stock code. */
export class BatchNormalization extends StockBatchNormalization implements TakesRelu {
  static className = 'BatchNormalization';
  readonly takesFollowingRelu = true;

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as BatchNormFields;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axis = f.axis >= 0 ? f.axis : f.axis + x.rank;
    if (!kwargs['training'] || axis !== x.rank - 1 || !f.center || !f.scale) return super.call(inputs, kwargs);
    const relu = reluFused(this) && hasKernels(x);
    return tf.tidy(() => {
      const { y, mean, variance } = normalizeInTraining(x, f.gamma.read(), f.beta.read(), f.epsilon, relu);
      if (relu) markRectified(y);
      // The stock layer's moving averages: v ← v − (v − batch)·(1 − momentum).
      for (const [v, batch] of [[f.movingMean, mean], [f.movingVariance, variance]] as const) {
        const old = v.read();
        v.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - f.momentum)));
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}
tf.serialization.registerClass(BatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

export function batchNormalization(args: BatchNormArgs): tfl.layers.Layer {
  return new BatchNormalization(args);
}
