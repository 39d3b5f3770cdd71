/**
 * Frozen layers in inference mode, alone in its module: gradient threads need it, and importing it from
 * transfer.ts would bring the backbone catalogue and the contract (zod) into every thread.
 */
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * tfjs-layers runs every layer in training mode during a training step, trainable or not, so a frozen batch norm
 * would still normalize with batch statistics and drift its moving averages (and a frozen dropout would drop).
 * Keras 2.x has the same trap; TF2 Keras fixed it by running frozen layers in inference mode. We do the same.
 */
export function runFrozenLayersInInferenceMode(layer: tfl.layers.Layer): void {
  if ((layer as { loupeFrozenPatch?: boolean }).loupeFrozenPatch) return;
  (layer as { loupeFrozenPatch?: boolean }).loupeFrozenPatch = true;
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => original(inputs, { ...kwargs, training: Boolean(kwargs?.['training']) && layer.trainable });
}
