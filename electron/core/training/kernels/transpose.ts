// Transpose for wasm: tfjs's kernel, except for the reversal of a 3-D tensor ([B, P, C] → [C, P, B]), which every
// filter gradient makes of its activations (conv2d-grads.ts: batch and channels swap places) and which tfjs's
// kernel moves one value at a time, at 1.3–1.8 GB/s (25 ms for the compact ResNet's first stage, batch 64, five
// times a step). The SIMD kernel (simd.ts) moves 4×4 blocks.
import * as tf from '@tensorflow/tfjs-core';
import type { HeapBackend } from './heap.ts';
import { simdKernels } from './simd.ts';

/** A 3-D reversal with at least four images and four channels: fewer go value by value, slower than tfjs's kernel. */
const takes = (shape: readonly number[], perm: readonly number[]) =>
  shape.length === 3 && perm[0] === 2 && perm[1] === 1 && perm[2] === 0 && shape[0]! >= 4 && shape[2]! >= 4;

/** Wraps the stock Transpose: float32 3-D reversals of four images and channels or more go to the SIMD kernel. */
export function blockTranspose(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x;
    const perm = (args.attrs as { perm?: number[] } | undefined)?.perm ?? [];
    const simd = simdKernels(args.backend);
    if (!simd || !x || x.dtype !== 'float32' || !takes(x.shape, perm)) return stock(args);
    const backend = args.backend as HeapBackend;
    const [B, P, C] = x.shape as [number, number, number];
    const out = backend.makeOutput([C, P, B], 'float32');
    // Offsets only after makeOutput: allocating may grow the heap.
    simd.transpose210(backend.typedArrayFromHeap(x).byteOffset, backend.typedArrayFromHeap(out).byteOffset, B, P, C);
    return out;
  };
}
