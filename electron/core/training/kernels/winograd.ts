// 3×3 convolutions of stride and dilation 1 by Winograd's minimal filtering F(4×4, 3×3) (winograd4.ts; simd.ts:
// winograd_*): 36 products per 4×4 outputs, input and output channel, where the direct sum takes 144. These are most
// of a ResNet's or a VGG-style net's convolutions, so all three of their passes run here:
//  - forward, as the wasm backend's Conv2D and FusedConv2D kernels (bias and relu applied to each output; the
//    stock kernels run everything else);
//  - the input gradient, a stride-1 convolution of dy with the rotated filter (input-grad.ts), through that kernel;
//  - the filter gradient (conv2d-grads.ts): dw = G^T [Σ over tiles (B^T x B) ⊙ (A dy A^T)] G.
// On the compact ResNet's layers (32 images: 64 px × 16 channels, 32 × 32, 16 × 64), on the Intel Xeon host:
//  - forward: XNNPACK ~21, 19 and 19 ms (AMD EPYC host); F(2×2, 3×3) 15.0, 10.8 and 9.0, then 9.9, 7.8 and 7.2 with
//    fused multiply-adds (simd.ts) and tiles read from x in place (no padded copy); F(4×4, 3×3) 8.0, 5.6 and 4.9;
//  - filter gradient: the direct SIMD kernel ~14 ms each (AMD); F(2×2, 3×3) 13.4, 10.2 and 9.0, then 9.4, 7.6 and
//    6.7; F(4×4, 3×3) 8.5, 6.0 and 5.0.
// Channel counts the kernels do not take (input channels not a multiple of 4, output channels not of 8: a grey stem,
// LeNet's) run as before. Winograd's sums differ from the direct ones by float32 rounding: a few 1e-6 of the largest
// output (F(2×2, 3×3): ~1e-6), within the 1e-5 the tests hold both passes to against the cpu kernels.
import * as tf from '@tensorflow/tfjs-core';
import type { ConvAttrs, Epilogue } from './conv-forward.ts';
import { heapFloats, withScratch, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels, type SimdKernels } from './simd.ts';


/** Bytes of one scratch slice's tiles: the 36 slices of v [T, Ci] and m [T, Co] stay in the second-level cache. */
const SLICE_BYTES = 8192;
/** A cache line past a multiple of 4 kB (see simd.ts's Winograd kernels). */
const SLICE_SKEW = 64;

/** The convolution's geometry when Winograd takes it (NHWC, 3×3, stride and dilation 1, channels in 4s and 8s), else null. */
function winogradInfo(xShape: readonly number[], filterShape: readonly number[], a: ConvAttrs): tf.backend_util.Conv2DInfo | null {
  if ((a.dataFormat ?? 'NHWC') !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4) return null;
  // The filter's size first: most other convolutions leave here, before their geometry is computed.
  if (filterShape[0] !== 3 || filterShape[1] !== 3) return null;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  return winogradTakes(info, filterShape) ? info : null;
}

/** Whether Winograd takes a convolution whose geometry (NHWC) the caller has already computed. */
export function winogradTakes(info: tf.backend_util.Conv2DInfo, filterShape: readonly number[]): boolean {
  const [kh, kw, ci, co] = filterShape;
  return (
    kh === 3 && kw === 3 && ci === info.inChannels && co === info.outChannels && info.inChannels % 4 === 0 && info.outChannels % 8 === 0 &&
    info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 && info.dilationWidth === 1 &&
    info.outHeight > 0 && info.outWidth > 0 && info.batchSize > 0
  );
}

/** Conv2D or FusedConv2D (epilogue: bias and relu) by Winograd, or null where it does not take the convolution. */
export function winogradForward(args: KernelArgs, epilogue: Epilogue | null): tf.TensorInfo | null {
  const simd = simdKernels(args.backend);
  const { x, filter } = args.inputs;
  if (!simd || !x || !filter || x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const info = winogradInfo(x.shape, filter.shape, args.attrs as unknown as ConvAttrs);
  if (!info) return null;
  const { batchSize: b, outHeight: oh, outWidth: ow, inChannels: ci, outChannels: co } = info;
  const bias = epilogue?.bias;
  if (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== co)) return null;
  const flags = (bias ? 1 : 0) | (epilogue?.relu ? 2 : 0);
  const kernel = epilogue ? tf.FusedConv2D : tf.Conv2D;
  return withTiles(args.backend as HeapBackend, kernel, info, [b, oh, ow, co], (at, y, g, u) => {
    simd.winogradFilter4(at(filter, 'filter'), at(u, 'u'), ci * co);
    simd.winogradF4x3(at(x, 'x'), at(u, 'u'), at(y, 'output'), g.v, g.m, b, info.inHeight, info.inWidth, g.padTop, g.padLeft, g.edge, g.tmp, ci, oh, ow, co, g.tiles, g.vStride, g.mStride, bias ? at(bias, 'bias') : 0, flags);
  });
}

/**
 * dw [3, 3, ci, co] of the convolution `info` describes (NHWC; winogradTakes it), from x and dy (float32 on this
 * backend's heap), or null when x or dy does not have the shape `info` gives (the caller's other path reports it).
 */
export function winogradFilterGrad(backend: HeapBackend, simd: SimdKernels, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo | null {
  const { batchSize: b, outHeight: oh, outWidth: ow, inChannels: ci, outChannels: co } = info;
  // The kernels trust these shapes to stay inside the tensors.
  if (x.shape.length !== 4 || [b, info.inHeight, info.inWidth, ci].some((d, i) => x.shape[i] !== d)) return null;
  if (dy.shape.length !== 4 || [b, oh, ow, co].some((d, i) => dy.shape[i] !== d)) return null;
  return withTiles(backend, tf.Conv2DBackpropFilter, info, [3, 3, ci, co], (at, dw, g, s) => {
    heapFloats(backend, s, tf.Conv2DBackpropFilter, 's').fill(0);
    simd.winogradFilterGrad4(at(x, 'x'), at(dy, 'dy'), at(s, 's'), g.v, g.m, b, info.inHeight, info.inWidth, g.padTop, g.padLeft, g.edge, g.tmp, ci, oh, ow, co, g.tiles, g.vStride, g.mStride);
    simd.winogradFilterGradOut4(at(s, 's'), at(dw, 'output'), ci * co);
  });
}

/** Byte offsets of the scratch every pass uses, and the tiling. */
interface Tiling {
  /** The padding above and left of the input: tiles read zeros there (and past the other edges). */
  padTop: number;
  padLeft: number;
  /** Scratch for one tile that reaches past the input's edge: its 6 × 6 pixels with their zeros. */
  edge: number;
  /** Scratch for a transform's 36 vectors. */
  tmp: number;
  /** Tiles per block, and the block's transformed input v and transformed output (or dy) m, a slice per product. */
  tiles: number;
  v: number;
  vStride: number;
  m: number;
  mStride: number;
}

type Offset = (t: tf.TensorInfo, name: string) => number;

/**
 * Allocates the output and the scratch (the tiling's, and `filters`: [36, ci·co], the transformed filter or filter
 * gradient), runs `body`, frees the scratch, and returns the output (freed too if `body` throws). `kernel` names the
 * kernel in errors.
 */
function withTiles(backend: HeapBackend, kernel: string, info: tf.backend_util.Conv2DInfo, outShape: number[], body: (at: Offset, out: tf.TensorInfo, g: Tiling, filters: tf.TensorInfo) => void): tf.TensorInfo {
  const { inChannels: ci, outChannels: co } = info;
  const tiles = Math.max(4, Math.floor(SLICE_BYTES / (4 * Math.max(ci, co))) & ~3);
  const vStride = tiles * ci * 4 + SLICE_SKEW;
  const mStride = tiles * co * 4 + SLICE_SKEW;
  return withScratch(backend, outShape, (out, temp) => {
    const filters = temp([36 * ci * co]);
    const edge = temp([36 * ci]);
    const tmp = temp([36 * 4]);
    const v = temp([(36 * vStride) / 4]);
    const m = temp([(36 * mStride) / 4]);
    // Offsets only after the last makeOutput: allocating may grow the heap.
    const at: Offset = (t, name) => heapFloats(backend, t, kernel, name).byteOffset;
    body(at, out, { padTop: info.padInfo.top, padLeft: info.padInfo.left, edge: at(edge, 'edge tile'), tmp: at(tmp, 'tmp'), tiles, v: at(v, 'v'), vStride, m: at(m, 'm'), mStride }, filters);
  });
}
