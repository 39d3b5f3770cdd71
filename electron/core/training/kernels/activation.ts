// The Activation layer, which passes its input on when it is a ReLU whose work the layer before it already did
// (fused-relu.ts, while a model trains); otherwise it is tfjs-layers' own. It keeps tfjs's class name
// and config, so saved models are plain Activation layers; registering the class makes loads in this process use it.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { alreadyRectified, withFusedReLUs } from './fused-relu.ts';

type ActivationArgs = Parameters<typeof tfl.layers.activation>[0];
type Kwargs = Record<string, unknown>;

// tfjs-layers does not export its layer classes; the factory's instance leads to it.
const StockActivation = tfl.layers.activation({ activation: 'linear' }).constructor as new (args: ActivationArgs) => tfl.layers.Layer;

export class Activation extends StockActivation {
  static className = 'Activation';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    // A layer's output is a tensor of its own: a clone, which shares the data on wasm, and so does its gradient
    // (a Cast to the same type; identity.ts).
    if (kwargs['training'] && isRelu(this) && alreadyRectified(x)) return tf.clone(x);
    return super.call(inputs, kwargs);
  }
}
tf.serialization.registerClass(Activation as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

export function activation(args: ActivationArgs): tfl.layers.Layer {
  return new Activation(args);
}

function isRelu(layer: tfl.layers.Layer): boolean {
  return layer instanceof Activation && (layer.getConfig() as Record<string, unknown>)['activation'] === 'relu';
}

/** Runs `model`'s training pass (synchronous) with each ReLU layer that can be fused into the layer before it. */
export function withFusedActivations<T>(model: tfl.LayersModel, run: () => T): T {
  return withFusedReLUs(model, isRelu, run);
}
