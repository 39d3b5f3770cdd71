// A ReLU layer fused into the layer before it while a model trains: that layer (a batch norm, a residual sum)
// applies max(·, 0) in its own pass and takes the gradient through it, and the ReLU layer passes its input on
// (activation.ts). The ReLU's pass over the activation, and for a batch norm its gradient's pass, are gone: the
// compact ResNet has 13 ReLU layers, all after one of those. Saved models do not change: the layers stay apart,
// and inference (inference-graph.ts) folds them its own way.
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;

/** A layer that can apply the ReLU layer after it (when its call finds reluFused(this) true). */
export interface TakesRelu {
  readonly takesFollowingRelu: true;
}

/** The layers of the model being trained whose ReLU is fused, while its training pass runs. */
let fused: ReadonlySet<Layer> | null = null;
/** Outputs that already had the ReLU layer after them applied: that layer passes them on. */
const rectified = new WeakSet<tf.Tensor>();
const plans = new WeakMap<tfl.LayersModel, ReadonlySet<Layer>>();

/** Whether `layer`'s call, now, should apply the ReLU layer after it (and markRectified its output). */
export function reluFused(layer: Layer): boolean {
  return fused?.has(layer) === true;
}

export function markRectified(t: tf.Tensor): tf.Tensor {
  rectified.add(t);
  return t;
}

/** Whether `x` came out of a layer that already applied the ReLU layer after it. */
export function alreadyRectified(x: tf.Tensor): boolean {
  return rectified.has(x);
}

function takesRelu(layer: Layer): boolean {
  return (layer as Partial<TakesRelu>).takesFollowingRelu === true;
}

/**
 * Runs `model`'s training pass (`run`, synchronous) with the ReLU fused into each layer that takes it whose output
 * goes to a ReLU layer `isRelu` accepts and nowhere else: applied once, not an output of this model, the ReLU
 * applied once too. Anything else (a shared layer, a sub-model ending before the ReLU, nested models) runs unfused.
 */
export function withFusedReLUs<T>(model: tfl.LayersModel, isRelu: (layer: Layer) => boolean, run: () => T): T {
  let plan = plans.get(model);
  if (!plan) {
    const layers = new Set(model.layers);
    const outputs = new Set(model.outputs.map((o) => o.sourceLayer));
    plan = new Set(
      model.layers.filter((l) => {
        if (!takesRelu(l) || l.inboundNodes.length !== 1 || l.outboundNodes.length !== 1 || outputs.has(l)) return false;
        const next = l.outboundNodes[0]!.outboundLayer;
        return layers.has(next) && isRelu(next) && next.inboundNodes.length === 1;
      }),
    );
    plans.set(model, plan);
  }
  const before = fused;
  fused = plan;
  try {
    return run();
  } finally {
    fused = before;
  }
}
