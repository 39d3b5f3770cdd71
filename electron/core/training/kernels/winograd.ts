// The wasm backend's Conv2D, with 3×3 convolutions of stride and dilation 1 run by Winograd's minimal filtering,
// F(2×2, 3×3) (simd.ts: winograd_filter, winograd_pad, winograd_f2x3): 16 products per 2×2 outputs, input and
// output channel, where the direct sum XNNPACK runs takes 36. These are most of a ResNet's or a VGG-style net's
// convolutions, forward and, through the input gradient (a stride-1 convolution of dy with the rotated filter,
// input-grad.ts), backward. On the compact ResNet's layers (32 images) it takes 12.5, 9.5 and 7.5 ms where XNNPACK
// takes 21.5, 19 and 19 (64 px × 16 channels, 32 × 32, 16 × 64); 77 against 130 ms on a 7 × 7 × 512 layer.
// Other convolutions, and channel counts the kernel does not take (input channels not a multiple of 4, output
// channels not of 8: a grey stem, LeNet's), run XNNPACK's kernel as before. Winograd's sums differ from the direct
// ones by float32 rounding (relative error ~1e-6 on these layers; tests/medium/wasm-kernels.test.ts bounds it).
import * as tf from '@tensorflow/tfjs-core';
import { heapFloats, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels, type SimdKernels } from './simd.ts';

interface Conv2DAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Bytes of one scratch slice's tiles: v [T, Ci] and m [T, Co] stay in the second-level cache (16 slices each). */
const SLICE_BYTES = 8192;
/** A cache line past a multiple of 4 kB (see winograd_f2x3). */
const SLICE_SKEW = 64;

/** Conv2D for the wasm backend: Winograd where it applies, else the stock kernel. */
export function winogradConv2D(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => winograd(args as KernelArgs) ?? stock(args);
}

/** The geometry Winograd takes, or null (the stock kernel runs). */
export function winogradInfo(xShape: readonly number[], filterShape: readonly number[], a: Conv2DAttrs): tf.backend_util.Conv2DInfo | null {
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4) return null;
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  if (kh !== 3 || kw !== 3 || ci % 4 !== 0 || co % 8 !== 0 || xShape[3] !== ci) return null;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  if (info.outHeight <= 0 || info.outWidth <= 0 || info.batchSize <= 0) return null;
  return info;
}

function winograd(args: KernelArgs): tf.TensorInfo | null {
  const simd = simdKernels(args.backend);
  const { x, filter } = args.inputs;
  if (!simd || !x || !filter || x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const info = winogradInfo(x.shape, filter.shape, args.attrs as unknown as Conv2DAttrs);
  return info && run(simd, args.backend as HeapBackend, x, filter, info);
}

function run(simd: SimdKernels, backend: HeapBackend, x: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
  // Tiles cover the output in 2 × 2 blocks; the padded input holds each tile's 4 × 4 pixels.
  const ph = 2 * Math.ceil(oh / 2) + 2;
  const pw = 2 * Math.ceil(ow / 2) + 2;
  const tiles = Math.max(4, Math.floor(SLICE_BYTES / (4 * Math.max(ci, co))) & ~3);
  const vStride = tiles * ci * 4 + SLICE_SKEW;
  const mStride = tiles * co * 4 + SLICE_SKEW;
  const y = backend.makeOutput([b, oh, ow, co], 'float32');
  const scratch: tf.TensorInfo[] = [];
  const temp = (floats: number) => {
    const t = backend.makeOutput([floats], 'float32');
    scratch.push(t);
    return t;
  };
  try {
    const p = temp(b * ph * pw * ci);
    const u = temp(16 * ci * co);
    const v = temp((16 * vStride) / 4);
    const m = temp((16 * mStride) / 4);
    // Offsets only after the last makeOutput: allocating may grow the heap.
    const at = (t: tf.TensorInfo, name: string) => heapFloats(backend, t, tf.Conv2D, name).byteOffset;
    simd.winogradFilter(at(filter, 'filter'), at(u, 'u'), ci * co);
    simd.winogradPad(at(x, 'x'), at(p, 'padded x'), b, h, w, ci, ph, pw, info.padInfo.top, info.padInfo.left);
    simd.winogradF2x3(at(p, 'padded x'), at(u, 'u'), at(y, 'output'), at(v, 'v'), at(m, 'm'), b, ph, pw, ci, oh, ow, co, tiles, vStride, mStride);
    return y;
  } catch (err) {
    backend.disposeData(y.dataId);
    throw err;
  } finally {
    for (const t of scratch) backend.disposeData(t.dataId);
  }
}
