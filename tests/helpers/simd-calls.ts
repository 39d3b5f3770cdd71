// Counts the calls of Loupe's SIMD kernels (electron/core/training/kernels/simd.ts) while a function runs: how the
// tests tell the SIMD path from the JS or tfjs path it stands in for, which give the same values by design.
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type SimdKernels } from '../../electron/core/training/kernels/simd.ts';

export function simdCalls(names: readonly (keyof SimdKernels)[], f: () => void): number {
  const kernels = simdKernels(tf.backend()) as unknown as Record<string, (...args: number[]) => void>;
  const originals = new Map(names.map((n) => [n, kernels[n]!]));
  let calls = 0;
  for (const [name, original] of originals) {
    kernels[name] = (...args) => {
      calls++;
      original(...args);
    };
  }
  try {
    f();
  } finally {
    for (const [name, original] of originals) kernels[name] = original;
  }
  return calls;
}
