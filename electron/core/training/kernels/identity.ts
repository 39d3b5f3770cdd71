// Identity and same-type Cast sharing their input's data, as the cpu backend's do and as wasm's own Reshape does (a
// reference count on the data id). tfjs runs Identity for every tensor a gradient keeps for the backward pass
// (engine.clone), and Identity's gradient is a Cast to float32 of a float32 gradient: wasm's stock kernels copy each
// one, 48 copies of activations per LeNet-5 training step, and 13 of 4–16 MB gradients per compact-ResNet step at
// 64 px, one per ReLU layer fused into the layer before it (bench/step-profile.ts).
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
    return share(x, args.backend);
  };
}

/** Wraps the stock kernel, which still converts between types (their bytes differ on the heap) and strings. */
export function sharedCast(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string' || (args.attrs as { dtype?: unknown } | undefined)?.dtype !== x.dtype) return stock(args);
    return share(x, args.backend);
  };
}

function share(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
