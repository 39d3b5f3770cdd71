// Identity sharing its input's data, as the cpu backend's does and as wasm's own Reshape does (a reference count
// on the data id). tfjs runs Identity for every tensor a gradient keeps for the backward pass (engine.clone): wasm's
// stock kernel copies each one, 48 copies of activations per LeNet-5 training step (bench/step-profile.ts).
// Sharing is safe because tfjs never writes into a tensor's data once made: every kernel writes a new output.
import * as tf from '@tensorflow/tfjs-core';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

/** Wraps the stock kernel, which stays in charge of string tensors (their data lives outside the wasm heap). */
export function sharedIdentity(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string') return stock(args);
    (args.backend as unknown as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
