// A residual sum and the ReLU layer after it as one pass over the wasm heap (fused-relu.ts; the Add layer of
// residual-add.ts runs it while a model trains): the ReLU's own pass over the block's output is gone.
import type * as tf from '@tensorflow/tfjs-core';
import { heapFloats, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels } from './simd.ts';
import { reluOf } from './relu-grad.ts';

/** Kernel name (not tfjs's), registered for wasm only. */
export const ADD_RELU = 'LoupeAddRelu';

/** Inputs a and b, float32 and of one shape; output max(a + b, 0): NaN stays NaN, −0 becomes 0. */
export function addRelu(args: KernelArgs): tf.TensorInfo {
  const simd = simdKernels(args.backend);
  return simd ? run(args, (o, x, y) => simd.addRelu(x.byteOffset, y.byteOffset, o.byteOffset, o.length)) : addReluJs(args);
}

/** The JS pass (where the SIMD kernel is not loaded; the tests hold that kernel to this one, bit for bit). */
export function addReluJs(args: KernelArgs): tf.TensorInfo {
  return run(args, (o, x, y) => {
    for (let i = 0; i < o.length; i++) o[i] = reluOf(Math.fround(x[i]! + y[i]!));
  });
}

function run(args: KernelArgs, pass: (out: Float32Array, a: Float32Array, b: Float32Array) => void): tf.TensorInfo {
  const backend = args.backend as HeapBackend;
  const { a, b } = args.inputs;
  if (!a || !b || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${ADD_RELU}: a and b must have one shape`);
  }
  const out = backend.makeOutput([...a.shape], 'float32');
  // Views only after makeOutput: allocating may grow the heap.
  pass(heapFloats(backend, out, ADD_RELU, 'output'), heapFloats(backend, a, ADD_RELU, 'a'), heapFloats(backend, b, ADD_RELU, 'b'));
  return out;
}
