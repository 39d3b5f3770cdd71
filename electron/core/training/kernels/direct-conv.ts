// Convolutions with few input channels by a direct SIMD kernel of ours (direct-conv-wat.ts: conv_direct): LeNet-5's
// layers, a grey stem, and the stride-1 input gradients of such layers (input-grad.ts), which XNNPACK runs over dy
// padded with zeros and multiplies those zeros too. conv_direct skips the taps that land in padding, takes any
// channel counts (output channels past the last eight are computed with zero filters and not stored) and any
// stride; dilation 1, NHWC. Its sums run in float32 in a fixed order (kh, kw, ci), which the tests hold bit for bit.
import * as tf from '@tensorflow/tfjs-core';
import type { ConvAttrs, Epilogue } from './conv-forward.ts';
import { heapFloats, withScratch, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels } from './simd.ts';
import { winogradTakes } from './winograd.ts';

type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Whether conv_direct takes a convolution (NHWC geometry): dilation 1, at most 16 input channels and a filter of 3×3
 * taps or more. Measured against XNNPACK on the Intel Xeon host (ms, batch 64 for LeNet, 32 for the ResNet):
 *  - LeNet-5: first layer 0.94 against 1.51, second 0.95 against 1.05, its input gradient 2.2 against 3.5;
 *  - the compact ResNet: grey 3×3 stem 2.5 against 2.9, 3×3 stride 2 from 16 channels 9.2 against 10.4;
 *  - but a 1×1 stride-2 projection 2.0 against 1.35 (16 products an output: copying x's rows costs more than the
 *    sums), and the 2×2 and smaller phases of a strided input gradient the same or slower: those stay XNNPACK's.
 * With more input channels XNNPACK's packed kernels pay (and Winograd takes most 3×3 convolutions).
 */
export function directTakes(info: tf.backend_util.Conv2DInfo): boolean {
  return (
    info.dilationHeight === 1 && info.dilationWidth === 1 && info.inChannels <= 16 && info.filterHeight * info.filterWidth >= 9 &&
    info.outHeight > 0 && info.outWidth > 0 && info.batchSize > 0 && info.outChannels > 0
  );
}

/** Conv2D or FusedConv2D (epilogue: bias and relu) by conv_direct, or null where it does not take the convolution. */
export function directConvForward(args: KernelArgs, epilogue: Epilogue | null): tf.TensorInfo | null {
  const { x, filter } = args.inputs;
  const a = args.attrs as unknown as ConvAttrs;
  if (!x || !filter || (a.dataFormat ?? 'NHWC') !== 'NHWC' || x.shape.length !== 4 || filter.shape.length !== 4) return null;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  return directConv(args.backend, x, filter, info, epilogue, epilogue ? tf.FusedConv2D : tf.Conv2D);
}

/**
 * A stride-1, dilation-1 convolution with explicit padding, as input-grad.ts runs them (dy with the rotated filter),
 * by conv_direct: null where it does not take it (the caller runs XNNPACK).
 */
export function directConvPadded(x: tf.Tensor4D, filter: tf.Tensor4D, pad: ExplicitPad): tf.Tensor4D | null {
  const info = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, 1, 1, pad, undefined, false, 'channelsLast');
  // Winograd runs the 3×3 ones it takes (through the Conv2D kernel the caller falls back to).
  if (winogradTakes(info, filter.shape)) return null;
  const out = directConv(tf.backend(), x, filter, info, null, tf.Conv2DBackpropInput);
  return out ? (tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor4D) : null;
}

/**
 * y = conv(x, filter) (+ bias, relu) as `info` describes, on the wasm heap: x's rows padded with zeros, and the
 * filter (and bias) padded with zero output channels up to a multiple of 8, in scratch freed before returning.
 * Null when the kernels are not loaded, a tensor is not float32 or its shape is not `info`'s, or directTakes says no.
 */
function directConv(backendArg: unknown, x: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, epilogue: Epilogue | null, kernel: string): tf.TensorInfo | null {
  const simd = simdKernels(backendArg);
  if (!simd || x.dtype !== 'float32' || filter.dtype !== 'float32' || !directTakes(info)) return null;
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = info;
  // The kernel trusts these shapes to stay inside the tensors.
  if ([b, h, w, ci].some((d, i) => x.shape[i] !== d) || [kh, kw, ci, co].some((d, i) => filter.shape[i] !== d)) return null;
  const bias = epilogue?.bias;
  if (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== co)) return null;
  const backend = backendArg as HeapBackend;
  const cop = Math.ceil(co / 8) * 8;
  const pl = info.padInfo.left;
  const wp = pl + w + 3 * info.strideWidth;
  return withScratch(backend, [b, oh, ow, co], (out, temp) => {
    const xp = temp([b, h, wp, ci]);
    const wide = cop === co ? null : temp([kh, kw, ci, cop]);
    const wideBias = bias && cop !== co ? temp([cop]) : null;
    // Views only after the last makeOutput: allocating may grow the heap.
    const at = (t: tf.TensorInfo, name: string) => heapFloats(backend, t, kernel, name).byteOffset;
    // A pass of its own, whole rows at a time: zeros and scatter_phase took 10–15% longer on LeNet's first layer.
    simd.padRows(at(x, 'x'), at(xp, 'padded x'), b * h, w * ci * 4, pl * ci * 4, (wp - pl - w) * ci * 4);
    if (wide) simd.padChannels(at(filter, 'filter'), at(wide, 'padded filter'), kh * kw * ci, co, cop);
    if (bias && wideBias) simd.padChannels(at(bias, 'bias'), at(wideBias, 'padded bias'), 1, co, cop);
    const flags = (bias ? 1 : 0) | (epilogue?.relu ? 2 : 0);
    simd.convDirect(
      at(xp, 'padded x'), wide ? at(wide, 'padded filter') : at(filter, 'filter'), at(out, 'output'),
      bias ? (wideBias ? at(wideBias, 'padded bias') : at(bias, 'bias')) : 0, flags,
      b, h, w, wp, ci, oh, ow, co, kh, kw, info.strideHeight, info.strideWidth, info.padInfo.top, pl,
    );
  });
}
