// The residual sum of the compact ResNet's blocks, which takes the ReLU layer after it while a model trains
// (fused-relu.ts).
//
// tfjs-layers' Add layer sums a clone of its first input with the others; this one adds the inputs themselves: the
// same values, the same gradients, one Identity and one Cast less a block. (Those used to cost a full copy of each
// block's output gradient, six of 4–16 MB a step at 64 px; wasm's Cast to the same type now shares its data, as
// Identity does: identity.ts.) It keeps tfjs's class name and config, so saved models are plain Add layers;
// registering the class makes loads in this process use it.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ADD_RELU } from './add-relu.ts';
import { markRectified, reluFused, type TakesRelu } from './fused-relu.ts';
import { reluGradient } from './relu-grad.ts';

type AddArgs = NonNullable<Parameters<typeof tfl.layers.add>[0]>;

// tfjs-layers does not export its layer classes; the factory's instance leads to it.
const StockAdd = tfl.layers.add({}).constructor as new (args?: AddArgs) => tfl.layers.Layer;

export class Add extends StockAdd implements TakesRelu {
  static className = 'Add';
  readonly takesFollowingRelu = true;

  /** Called by tfjs-layers' Merge base class with two or more inputs of one shape (it checks both). */
  protected mergeFunction(inputs: tf.Tensor[]): tf.Tensor {
    const [a, b] = inputs;
    if (inputs.length === 2 && reluFused(this) && tf.getKernel(ADD_RELU, tf.getBackend()) && a!.dtype === 'float32' && b!.dtype === 'float32') {
      return markRectified(sumThenRelu(a!, b!));
    }
    return tf.tidy(() => inputs.slice(1).reduce((sum, t) => tf.add(sum, t), inputs[0]!));
  }
}

/** max(a + b, 0) in one kernel; its gradient dy·step(output) goes to both inputs, as a ReLU's then a sum's would. */
function sumThenRelu(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y] = args as [tf.Tensor, tf.Tensor];
    const save = args[2] as tf.GradSaveFunc;
    const out = tf.engine().runKernel(ADD_RELU, { a: x, b: y }) as tf.Tensor;
    save([out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = reluGradient(dy, saved[0]!);
        // Two tensors (sharing the data on wasm): the tape adds into and disposes each input's gradient apart.
        return [g, tf.clone(g)];
      },
    };
  });
  return f(a, b);
}
tf.serialization.registerClass(Add as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

export function add(args: AddArgs): tfl.layers.Layer {
  return new Add(args);
}
