// Conv2DBackpropFilter (missing on wasm) and Conv2DBackpropInput (present on wasm but a scalar loop, ~4× slower)
// as XNNPACK forward convolutions (input gradients: input-grad.ts), and most filter gradients as a SIMD kernel of
// ours (simd.ts). Identities and index arithmetic: conv-geometry.ts.
import * as tf from '@tensorflow/tfjs-core';
import { filterGradAxis, type ConvAxis } from './conv-geometry.ts';
import { directConvPadded } from './direct-conv.ts';
import { asTensor4D, cropForConv, forwardConv, fromNHWC, shapeToNHWC, toNHWC } from './forward-conv.ts';
import { inputGradient } from './input-grad.ts';
import { heapFloats, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels } from './simd.ts';
import { winogradFilterGrad, winogradTakes } from './winograd.ts';

interface ConvGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Not in tfjs's attrs (its conv2d gradient refuses dilation); honoured when a caller passes it. */
  dilations?: number | [number, number];
}

function convInfo(inShape: [number, number, number, number], filterShape: [number, number, number, number], a: ConvGradAttrs, depthwise: boolean): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(inShape, filterShape, a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, depthwise, 'channelsLast');
}

/** The forward convolution's geometry along H and W. */
function convAxes(info: tf.backend_util.Conv2DInfo): { h: ConvAxis; w: ConvAxis } {
  return {
    h: { inSize: info.inHeight, outSize: info.outHeight, filterSize: info.filterHeight, stride: info.strideHeight, dilation: info.dilationHeight, padBefore: info.padInfo.top },
    w: { inSize: info.inWidth, outSize: info.outWidth, filterSize: info.filterWidth, stride: info.strideWidth, dilation: info.dilationWidth, padBefore: info.padInfo.left },
  };
}

/**
 * dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh·d−p, ow·s+kw·d−p, ci] · dy[b,oh,ow,co]
 * = conv( x as [Ci,H,W,B] (batch ↔ channels), dy as a filter [OH,OW,B,Co], stride d, dilation s ) → [Ci,kh,kw,Co].
 */
export function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
  const direct = simdFilterGrad(args, a);
  if (direct) return direct;
  return tf.tidy(() => {
    const x = toNHWC(asTensor4D(args.inputs.x, 'x'), a.dataFormat);
    const dy = toNHWC(asTensor4D(args.inputs.dy, 'dy'), a.dataFormat);
    const info = convInfo(x.shape, a.filterShape, a, false);
    const { h, w } = convAxes(info);
    const hp = filterGradAxis(h);
    const wp = filterGradAxis(w);
    if (hp.keptLength <= 0 || wp.keptLength <= 0) return tf.zeros(a.filterShape);
    // x as a batch of Ci single-channel images whose channels are the batch: [B,H,W,Ci] → [Ci,H,W,B].
    const xT = tf.reshape(tf.transpose(tf.reshape(x, [info.batchSize, info.inHeight * info.inWidth, info.inChannels]), [2, 1, 0]), [info.inChannels, info.inHeight, info.inWidth, info.batchSize]) as tf.Tensor4D;
    // [B,OH,OW,Co] → [OH,OW,B,Co]. The transposes run on views with the adjacent spatial axes merged (3-D
    // instead of 4-D): the wasm Transpose is ~1.5–2× faster that way.
    const dyT: tf.Tensor4D = tf.reshape(tf.transpose(tf.reshape(dy, [info.batchSize, info.outHeight * info.outWidth, info.outChannels]), [1, 0, 2]), [info.outHeight, info.outWidth, info.batchSize, info.outChannels]);
    const fed = cropForConv(xT, hp, wp);
    const g = forwardConv(fed.x, dyT, [info.dilationHeight, info.dilationWidth], [info.strideHeight, info.strideWidth], fed.pad);
    return tf.reshape(tf.transpose(tf.reshape(g, [info.inChannels, info.filterHeight * info.filterWidth, info.outChannels]), [1, 0, 2]), a.filterShape);
  });
}

/**
 * The SIMD kernel (simd.ts: conv_filter_grad) straight from x and dy, NHWC, for dilation 1: 2.5–3× the speed of
 * the XNNPACK convolution above, with no transposes. The kernel takes output channels in eights (the ResNet's,
 * LeNet's second and most backbones' convolutions). Other counts run on dy padded with zero channels up to the next
 * eight (a pass of our own: tfjs's pad took longer than the kernel), where that adds at most half the work: LeNet's
 * first convolution (6 → 8) then takes 1.3 ms where XNNPACK and its transposes took 2.0–3.0 (batch 64). The padded
 * channels' sums are sliced off; the others are the same sums in the same order. Null where it does not apply.
 */
function simdFilterGrad(args: KernelArgs, a: ConvGradAttrs & { filterShape: [number, number, number, number] }): tf.TensorInfo | null {
  const simd = simdKernels(args.backend);
  const { x, dy } = args.inputs;
  if (!simd || !(x instanceof tf.Tensor) || !(dy instanceof tf.Tensor) || x.dtype !== 'float32' || dy.dtype !== 'float32' || x.rank !== 4 || dy.rank !== 4) return null;
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC') return null;
  const info = convInfo(x.shape as [number, number, number, number], a.filterShape, a, false);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  // The kernels trust these sizes to stay inside the three tensors: anything inconsistent takes the tfjs path,
  // which reports it.
  const [kh, kw, filterIn, filterOut] = a.filterShape;
  if (filterIn !== info.inChannels || filterOut !== info.outChannels) return null;
  if (dy.shape[0] !== info.batchSize || dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== info.outChannels) return null;
  const backend = args.backend as HeapBackend;
  // 3×3 with stride 1 and channels in fours and eights: Winograd (winograd.ts), 1.5–1.9× this kernel.
  const winograd = winogradTakes(info, a.filterShape) ? winogradFilterGrad(backend, simd, x, dy, info) : null;
  if (winograd) return winograd;
  const co = info.outChannels;
  const padded = Math.ceil(co / 8) * 8;
  const run = (dyIn: tf.TensorInfo, channels: number): tf.TensorInfo => {
    const out = backend.makeOutput([kh, kw, filterIn, channels], 'float32');
    // Views only after makeOutput: allocating may grow the heap.
    const dw = heapFloats(backend, out, tf.Conv2DBackpropFilter, 'output');
    dw.fill(0);
    // Fewer than four input channels: the same sums by taps in groups (simd.ts), 1.2-1.5x as fast.
    (info.inChannels < 4 ? simd.convFilterGradFew : simd.convFilterGrad)(
      heapFloats(backend, x, tf.Conv2DBackpropFilter, 'x').byteOffset, heapFloats(backend, dyIn, tf.Conv2DBackpropFilter, 'dy').byteOffset, dw.byteOffset,
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, channels,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
    );
    return out;
  };
  if (padded === co) return run(dy, co);
  if ((padded - co) * 2 > co) return null;
  const [b, oh, ow] = dy.shape as [number, number, number, number];
  const wideDy = backend.makeOutput([b, oh, ow, padded], 'float32');
  try {
    simd.padChannels(heapFloats(backend, dy, tf.Conv2DBackpropFilter, 'dy').byteOffset, heapFloats(backend, wideDy, tf.Conv2DBackpropFilter, 'padded dy').byteOffset, b * oh * ow, co, padded);
    const wide = tf.engine().makeTensorFromTensorInfo(run(wideDy, padded));
    try {
      return tf.slice(wide, [0, 0, 0, 0], [kh, kw, filterIn, co]);
    } finally {
      wide.dispose();
    }
  } finally {
    backend.disposeData(wideDy.dataId);
  }
}

/**
 * dx = conv( dy, filter rotated 180° with in/out channels swapped, stride 1 ), by the direct kernel where it takes the
 * convolution (few channels: it skips the zeros XNNPACK would multiply around dy), else XNNPACK: per phase of the stride when it is
 * above 1 (input-grad.ts), over dy with stride−1 zeros inserted when the filter is dilated.
 */
export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const a = args.attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
  return tf.tidy(() => {
    const dy = toNHWC(asTensor4D(args.inputs.dy, 'dy'), a.dataFormat);
    const filter = asTensor4D(args.inputs.filter, 'filter');
    const info = convInfo(shapeToNHWC(a.inputShape, a.dataFormat), filter.shape, a, false);
    const { h, w } = convAxes(info);
    const rotated = rotatedFilter(filter, true);
    const dx = inputGradient(dy, rotated, h, w, info.inChannels, (x, f, dilations, pad) =>
      (dilations[0] === 1 && dilations[1] === 1 ? directConvPadded(x, f, pad) : null) ?? forwardConv(x, f, [1, 1], dilations, pad));
    return fromNHWC(dx, a.dataFormat);
  });
}

/**
 * The filter rotated 180° (both spatial axes reversed), in one pass over the wasm heap: with `swapChannels`,
 * [kh,kw,ci,co] → [kh,kw,co,ci], out[kh−1−i, kw−1−j, o, c] = f[i, j, c, o] (a convolution's input gradient); without,
 * the channel axes stay (a depthwise convolution's). tfjs's transpose and reverse took ~0.3 ms a call on wasm whatever
 * the size (14 calls, 4.5 ms per compact-ResNet step at 64 px on one thread; bench/step-profile.ts).
 */
export function rotatedFilter(filter: tf.Tensor4D, swapChannels: boolean): tf.Tensor4D {
  const backend = tf.backend() as unknown as HeapBackend;
  const [kh, kw, ci, co] = filter.shape;
  const out = backend.makeOutput(swapChannels ? [kh, kw, co, ci] : [kh, kw, ci, co], 'float32');
  // Views after the allocation, which may have grown the heap.
  const src = heapFloats(backend, filter, 'rotatedFilter', 'filter');
  const dst = heapFloats(backend, out, 'rotatedFilter', 'rotated filter');
  const taps = kh * kw;
  const plane = ci * co;
  for (let t = 0; t < taps; t++) {
    // Reversing both spatial axes reverses the flattened tap index.
    const from = t * plane;
    const to = (taps - 1 - t) * plane;
    if (!swapChannels) dst.set(src.subarray(from, from + plane), to);
    else for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) dst[to + o * ci + c] = src[from + c * co + o]!;
  }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor4D;
}

export { convAxes, convInfo };
