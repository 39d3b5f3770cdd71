// Shared plumbing for gradient kernels built from the wasm backend's forward convolutions (XNNPACK).
// The kernels run inside tf.tidy: everything they create is disposed except the returned tensor, which the
// engine hands back to the caller as the kernel's output (a Tensor with a rank is used as-is, see
// tfjs-core engine.runKernelFunc), so no data id leaks.
import * as tf from '@tensorflow/tfjs-core';
import type { AxisPlan } from './conv-geometry.ts';

export type Pair = [number, number];
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/** Kernel inputs are the op's tensors (ops always pass Tensors); anything else is a caller bug. */
export function asTensor4D(t: tf.TensorInfo | undefined, what: string): tf.Tensor4D {
  if (!(t instanceof tf.Tensor) || t.rank !== 4) {
    throw new Error(`wasm training kernel: input '${what}' must be a rank-4 tensor`);
  }
  return t as tf.Tensor4D;
}

/** NCHW support: the wasm convolutions are NHWC only, so NCHW tensors are transposed in and out. */
export function toNHWC(t: tf.Tensor4D, dataFormat: string | undefined): tf.Tensor4D {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t;
}
export function fromNHWC(t: tf.Tensor4D, dataFormat: string | undefined): tf.Tensor4D {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t;
}
export function shapeToNHWC(s: readonly number[], dataFormat: string | undefined): [number, number, number, number] {
  const [a = 0, b = 0, c = 0, d = 0] = s;
  return dataFormat === 'NCHW' ? [a, c, d, b] : [a, b, c, d];
}

/** Crops the two spatial axes of an NHWC tensor as planned, and returns the padding still to apply. */
export function cropForConv(x: tf.Tensor4D, h: AxisPlan, w: AxisPlan): { x: tf.Tensor4D; pad: ExplicitPad } {
  let out = x;
  if (h.cropBefore || h.cropAfter || w.cropBefore || w.cropAfter) {
    const [n, rows, cols, c] = x.shape;
    out = tf.slice(x, [0, h.cropBefore, w.cropBefore, 0], [n, rows - h.cropBefore - h.cropAfter, cols - w.cropBefore - w.cropAfter, c]);
  }
  return { x: out, pad: [[0, 0], [h.padBefore, h.padAfter], [w.padBefore, w.padAfter], [0, 0]] };
}

/**
 * The wasm backend's Conv2D kernel, called directly: the tf.conv2d op refuses stride > 1 together with
 * dilation > 1, which the filter gradient of a dilated conv needs; XNNPACK handles both.
 */
export function forwardConv(x: tf.Tensor4D, filter: tf.Tensor4D, strides: Pair, dilations: Pair, pad: ExplicitPad): tf.Tensor4D {
  return tf.engine().runKernel('Conv2D', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

export function forwardDepthwise(x: tf.Tensor4D, filter: tf.Tensor4D, strides: Pair, dilations: Pair, pad: ExplicitPad): tf.Tensor4D {
  return tf.engine().runKernel('DepthwiseConv2dNative', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Inserts stride−1 zeros after every sample of dy along H and W (the "fractionally strided" input of the input
 * gradient): [B,OH,OW,C] → [B,OH·sh,OW·sw,C]. The trailing zeros are harmless: the conv plan crops or
 * pads around them. One pad of a rank-6 view, no loops in JS.
 */
export function zeroDilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [b, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.reshape(spread, [b, oh * sh, ow * sw, c]);
}
