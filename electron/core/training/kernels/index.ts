// Training kernels for the wasm backend. tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter and the depthwise
// gradients (training a conv net throws "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"), and
// its Conv2DBackpropInput is a scalar loop. We express each as one XNNPACK forward convolution (see
// conv-geometry.ts). Everything else our models' gradients need (MaxPoolGrad, AvgPoolGrad, Step for relu,
// FusedBatchNorm's composed gradient, Mean for global average pooling, softmax cross-entropy, dropout's
// RandomUniform-free mask, Adam/RMSprop updates) exists on wasm; tests/medium/wasm-kernels.test.ts checks it.
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv2d-grads.ts';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise-grads.ts';

const BACKEND = 'wasm';

const ours: readonly tf.KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc },
  { kernelName: tf.Conv2DBackpropInput, backendName: BACKEND, kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, backendName: BACKEND, kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc },
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, backendName: BACKEND, kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc },
];

/** Names of the kernels this module provides for 'wasm'. */
export const WASM_TRAINING_KERNELS: readonly string[] = ours.map((k) => k.kernelName);

/**
 * Registers (or replaces) the training kernels for the 'wasm' backend. Idempotent: calling it again changes
 * nothing. Returns the names of the kernels now served by this module. Works before or after the wasm backend
 * is initialised (our kernels need no setup function).
 */
export function registerWasmTrainingKernels(): string[] {
  for (const config of ours) {
    const current = tf.getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc === config.kernelFunc) continue;
    // Replacing wasm's own kernel: unregister first, or tfjs warns about a duplicate registration.
    if (current) tf.unregisterKernel(config.kernelName, BACKEND);
    tf.registerKernel(config);
  }
  return [...WASM_TRAINING_KERNELS];
}
