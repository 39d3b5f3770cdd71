// Per-kernel self time of the wasm backend, for the benches' "where the time goes". tf.profile counts a kernel
// that calls other kernels (ours do) twice; here every wasm kernel is temporarily wrapped with a timer that
// keeps a stack, so each kernel is charged only for the time not spent in the kernels it called. The wasm
// backend runs kernels synchronously, so wall time around kernelFunc is the kernel's time.
import * as tf from '@tensorflow/tfjs-core';

export interface KernelTime {
  readonly kernel: string;
  readonly calls: number;
  readonly selfMs: number;
}

export function timeKernels(backendName: string, run: () => void): { kernels: KernelTime[]; totalMs: number } {
  const originals = tf.getKernelsForBackend(backendName);
  const stats = new Map<string, { calls: number; selfMs: number }>();
  const childMs: number[] = [];
  for (const config of originals) {
    const inner = config.kernelFunc;
    const wrapped: tf.KernelFunc = (args) => {
      childMs.push(0);
      const start = performance.now();
      try {
        return inner(args);
      } finally {
        const elapsed = performance.now() - start;
        const children = childMs.pop() ?? 0;
        if (childMs.length) childMs[childMs.length - 1]! += elapsed;
        const s = stats.get(config.kernelName) ?? { calls: 0, selfMs: 0 };
        s.calls++;
        s.selfMs += elapsed - children;
        stats.set(config.kernelName, s);
      }
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: wrapped });
  }
  const start = performance.now();
  try {
    run();
  } finally {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, backendName);
      tf.registerKernel(config);
    }
  }
  const totalMs = performance.now() - start;
  const kernels = [...stats].map(([kernel, s]) => ({ kernel, calls: s.calls, selfMs: s.selfMs })).sort((a, b) => b.selfMs - a.selfMs);
  return { kernels, totalMs };
}
