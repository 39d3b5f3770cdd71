// The residual sum of the compact ResNet's blocks, without a copy in its gradient.
//
// tfjs-layers' Add layer sums a clone of its first input with the others. Forward the clone is only a reference,
// but its gradient is a Cast: a full copy of the incoming gradient, on every backward pass (six copies of 4–16 MB
// activations a step for the compact ResNet at 64 px, ~10 ms on one thread). This layer adds the inputs themselves:
// the same values, the same gradients. It keeps tfjs's class name and config, so saved models are plain Add layers;
// registering the class makes loads in this process use it.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type AddArgs = NonNullable<Parameters<typeof tfl.layers.add>[0]>;

// tfjs-layers does not export its layer classes; the factory's instance leads to it.
const StockAdd = tfl.layers.add({}).constructor as new (args?: AddArgs) => tfl.layers.Layer;

export class Add extends StockAdd {
  static className = 'Add';

  /** Called by tfjs-layers' Merge base class with two or more inputs of one shape (it checks both). */
  protected mergeFunction(inputs: tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => inputs.slice(1).reduce((sum, t) => tf.add(sum, t), inputs[0]!));
  }
}
tf.serialization.registerClass(Add as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

export function add(args: AddArgs): tfl.layers.Layer {
  return new Add(args);
}
