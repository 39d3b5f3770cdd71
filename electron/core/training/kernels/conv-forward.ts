// The wasm backend's Conv2D and FusedConv2D: Winograd for the 3×3 stride-1 convolutions it takes (winograd.ts), the
// direct kernel for those with few input channels (direct-conv.ts), the stock kernel (XNNPACK) for the rest.
import type * as tf from '@tensorflow/tfjs-core';
import { directConvForward } from './direct-conv.ts';
import type { KernelArgs } from './heap.ts';
import { winogradForward } from './winograd.ts';

export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** What a fused convolution adds to each output: a bias [co] (or none) and a relu. */
export interface Epilogue {
  bias: tf.TensorInfo | undefined;
  relu: boolean;
}

function forward(args: KernelArgs, epilogue: Epilogue | null): tf.TensorInfo | null {
  return winogradForward(args, epilogue) ?? directConvForward(args, epilogue);
}

export function conv2D(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => forward(args as KernelArgs, null) ?? stock(args);
}

/** Ours for a linear or relu activation with a bias or none; the stock kernel for prelu and the other activations. */
export function fusedConv2D(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const a = args.attrs as { activation?: string } | undefined;
    const { bias, preluActivationWeights } = args.inputs;
    const activation = a?.activation ?? 'linear';
    if (preluActivationWeights || (activation !== 'linear' && activation !== 'relu')) return stock(args);
    return forward(args as KernelArgs, { bias, relu: activation === 'relu' }) ?? stock(args);
  };
}
