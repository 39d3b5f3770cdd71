// Training kernels for the wasm backend. tfjs-backend-wasm 4.22 lacks Conv2DBackpropFilter and the depthwise
// gradients (training a conv net throws "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"), and
// some kernels it has are slow paths that dominate a training step. We register:
//  - Conv2DBackpropFilter, Conv2DBackpropInput, DepthwiseConv2dNativeBackpropFilter/Input: XNNPACK forward
//    convolutions (conv-geometry.ts has the identities; strided input gradients one per phase, input-grad.ts), and
//    the filter gradient of most convolutions as a SIMD kernel of ours (simd.ts);
//  - Conv2D, FusedConv2D (conv-forward.ts): the stock kernels, but 3×3 convolutions with stride 1 by Winograd's
//    F(4×4, 3×3) (winograd.ts, winograd4.ts), which also runs the stride-1 input gradients above and the filter
//    gradients of these convolutions, and convolutions with few input channels (LeNet-5's, a grey stem's) and
//    their stride-1 input gradients by a direct SIMD kernel of ours (direct-conv.ts);
//  - MaxPoolGrad: one pass over the wasm heap instead of the stock kernel (SIMD for the usual 2×2 pool, simd.ts);
//  - BatchMatMul, _FusedMatMul: the stock kernels, fed explicitly transposed operands instead of transpose flags;
//  - Identity, and Cast to the type a tensor already has (Identity's gradient): share the input's data instead of
//    copying it (identity.ts);
//  - Transpose: the stock kernel, but 3-D reversals (the filter gradients' batch ↔ channels) in SIMD blocks;
//  - LoupeBatchNormTrain/Grad (names of ours): batch normalization's training pass and gradient, one JS pass
//    each way over the wasm heap, run by the BatchNormalization layer of batch-norm.ts;
//  - LoupeReluBiasGrad (ours): the gradient of relu(z + bias) in one pass (SIMD), run by relu-bias.ts's Conv2D and Dense;
//  - LoupeReluGrad (ours): a ReLU layer's gradient in one pass (SIMD), run by Loupe's gradient for Relu (relu-grad.ts),
//    which this module puts in tfjs's gradient registry;
//  - LoupeAddRelu (ours): a residual sum and the ReLU layer after it in one pass (SIMD), run by residual-add.ts's Add
//    while a model trains (fused-relu.ts).
// Everything else our models' gradients need (AvgPoolGrad, Step for relu, FusedBatchNorm's composed gradient,
// Mean for global average pooling, softmax cross-entropy, dropout, Adam/RMSprop updates) exists on wasm;
// tests/medium/wasm-kernels.test.ts profiles real training steps to keep that true.
import * as tf from '@tensorflow/tfjs-core';
// Imported for its side effect first: the wasm package registers its stock kernels on import, and ours must
// come after them (or a later import would put the stock Conv2DBackpropInput/MaxPoolGrad back over ours).
import '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_GRAD, BATCH_NORM_TRAIN, batchNormGrad, batchNormTrain } from './batch-norm-kernels.ts';
import { conv2D, fusedConv2D } from './conv-forward.ts';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv2d-grads.ts';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise-grads.ts';
import { sharedCast, sharedIdentity } from './identity.ts';
import { blockTranspose } from './transpose.ts';
import { withoutTransposes } from './matmul.ts';
import { maxPoolGrad } from './max-pool-grad.ts';
import { RELU_BIAS_GRAD, reluBiasGrad } from './relu-bias-kernels.ts';
import { RELU_GRAD, registerReluGradient, reluGrad } from './relu-grad.ts';
import { ADD_RELU, addRelu } from './add-relu.ts';

const BACKEND = 'wasm';

interface Provider {
  readonly kernelName: string;
  /** Builds our kernel; `stock` is wasm's own registration when it has one. */
  readonly build: (stock: tf.KernelConfig | undefined) => tf.KernelFunc | undefined;
  /** Wrappers call the stock kernel, whose setup (cwrap of its wasm export) must still run at backend init. */
  readonly wrapsStock?: boolean;
}

const asKernel = (f: unknown) => f as tf.KernelFunc;

const providers: readonly Provider[] = [
  { kernelName: tf.Conv2DBackpropFilter, build: () => asKernel(conv2dBackpropFilter) },
  { kernelName: tf.Conv2DBackpropInput, build: () => asKernel(conv2dBackpropInput) },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, build: () => asKernel(depthwiseBackpropFilter) },
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, build: () => asKernel(depthwiseBackpropInput) },
  { kernelName: tf.MaxPoolGrad, build: () => asKernel(maxPoolGrad) },
  { kernelName: tf.Conv2D, build: (stock) => stock && conv2D(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf.FusedConv2D, build: (stock) => stock && fusedConv2D(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf.BatchMatMul, build: (stock) => stock && withoutTransposes(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf._FusedMatMul, build: (stock) => stock && withoutTransposes(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf.Identity, build: (stock) => stock && sharedIdentity(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf.Cast, build: (stock) => stock && sharedCast(stock.kernelFunc), wrapsStock: true },
  { kernelName: tf.Transpose, build: (stock) => stock && blockTranspose(stock.kernelFunc), wrapsStock: true },
  { kernelName: BATCH_NORM_TRAIN, build: () => asKernel(batchNormTrain) },
  { kernelName: BATCH_NORM_GRAD, build: () => asKernel(batchNormGrad) },
  { kernelName: RELU_BIAS_GRAD, build: () => asKernel(reluBiasGrad) },
  { kernelName: RELU_GRAD, build: () => asKernel(reluGrad) },
  { kernelName: ADD_RELU, build: () => asKernel(addRelu) },
];

/** Names of the kernels this module provides for 'wasm'. */
export const WASM_TRAINING_KERNELS: readonly string[] = providers.map((p) => p.kernelName);

const ours = new WeakSet<tf.KernelFunc>();

/**
 * Registers (or replaces) the training kernels for the 'wasm' backend. Idempotent: calling it again changes
 * nothing. Returns the names of the kernels now served by this module. Works before or after the wasm backend
 * is initialised (tf.setBackend('wasm')); the wrapped stock kernels keep their setup functions. Also puts
 * Loupe's gradient for Relu in tfjs's registry (relu-grad.ts; tfjs's composition on other backends).
 */
export function registerWasmTrainingKernels(): string[] {
  registerReluGradient();
  const names: string[] = [];
  for (const p of providers) {
    const current = tf.getKernel(p.kernelName, BACKEND);
    if (current && ours.has(current.kernelFunc)) {
      names.push(p.kernelName);
      continue;
    }
    const kernelFunc = p.build(current);
    if (!kernelFunc) continue; // a wrapper with no stock kernel to wrap (cannot happen after the import above)
    ours.add(kernelFunc);
    // Replacing wasm's own kernel: unregister first, or tfjs warns about a duplicate registration.
    if (current) tf.unregisterKernel(p.kernelName, BACKEND);
    tf.registerKernel({ kernelName: p.kernelName, backendName: BACKEND, kernelFunc, ...(p.wrapsStock && current?.setupFunc ? { setupFunc: current.setupFunc } : {}) });
    names.push(p.kernelName);
  }
  return names;
}
