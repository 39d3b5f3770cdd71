// A ReLU layer's gradient as one kernel on wasm. tfjs's gradient of Relu is mul(dy, cast(step(x))): three kernels
// and three passes over the activation, ~32 ms of a compact ResNet step (13 ReLU layers on 64 images at 64 px).
// Loupe's gradient for Relu runs LoupeReluGrad (simd.ts: relu_grad) where the wasm backend has its SIMD kernels,
// and tfjs's own composition everywhere else; both give the same values, bit for bit (NaN in x gives NaN, an
// infinite dy where x <= 0 gives NaN: tests/medium/simd-kernels.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { heapFloats, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels } from './simd.ts';

/** Kernel name (not tfjs's), registered for wasm only. */
export const RELU_GRAD = 'LoupeReluGrad';

/** Inputs dy and x (the ReLU's input), float32 and of one shape; output dy · step(x). */
export function reluGrad(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as HeapBackend;
  const { dy, x } = args.inputs;
  if (!dy || !x || dy.shape.length !== x.shape.length || dy.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${RELU_GRAD}: dy and x must have one shape`);
  }
  // The gradient below runs this kernel only where the SIMD kernels are loaded; elsewhere tfjs's composition runs.
  const simd = simdKernels(args.backend);
  if (!simd) throw new Error(`${RELU_GRAD}: the SIMD kernels are not loaded on this backend`);
  const out = backend.makeOutput([...dy.shape], 'float32');
  // Views only after makeOutput: allocating may grow the heap.
  const g = heapFloats(backend, out, RELU_GRAD, 'output');
  simd.reluGrad(heapFloats(backend, dy, RELU_GRAD, 'dy').byteOffset, heapFloats(backend, x, RELU_GRAD, 'x').byteOffset, g.byteOffset, g.length);
  return out;
}

/** tfjs's step(x) for one value, the factor of a ReLU's gradient: 1 for x > 0, NaN for NaN, else 0 (simd.ts: stepVec). */
export function stepOf(x: number): number {
  return x > 0 ? 1 : Number.isNaN(x) ? NaN : 0;
}

/** max(x, 0) as Loupe's fused passes compute it (f32x4.max): NaN stays NaN, −0 becomes 0. */
export function reluOf(x: number): number {
  return x > 0 || Number.isNaN(x) ? x : 0;
}

/** dy · step(x), x a ReLU's input or output: the fused kernel where it runs, else tfjs's composition. */
export function reluGradient(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const fused = simdKernels(tf.backend()) !== null && dy.dtype === 'float32' && x.dtype === 'float32';
  return fused ? (tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor) : tf.mul(dy, tf.cast(tf.step(x), 'float32'));
}

/** tfjs's gradient config for Relu, with the fused kernel where it runs. */
const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return { x: () => reluGradient(dy as tf.Tensor, x) };
  },
};

/** Puts Loupe's gradient for Relu in tfjs's registry (for every backend: the others keep tfjs's composition). */
export function registerReluGradient(): void {
  tf.registerGradient(reluGradConfig);
}
