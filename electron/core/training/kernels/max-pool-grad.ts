// MaxPoolGrad for wasm over the wasm heap. The stock wasm kernel took ~10 ms per LeNet step (a quarter of it) for
// two small pools. The usual pool (2×2, stride 2, tiling its input) runs as a SIMD kernel (simd.ts); any other
// shape as one JS pass over the windows, keeping the running max per channel in NHWC order. Semantics match the
// cpu and wasm kernels: each window's gradient goes to its first maximum in row-major order (strict '>', so NaN
// windows pass nothing), summed where windows overlap.
import * as tf from '@tensorflow/tfjs-core';
import { heapFloats, type HeapBackend, type KernelArgs } from './heap.ts';
import { simdKernels } from './simd.ts';

type PoolInfo = tf.backend_util.Conv2DInfo;

/** A 2×2, stride-2 pool without padding whose windows cover every input element once: what the SIMD kernel takes. */
function tiles2x2(i: PoolInfo): boolean {
  return (
    i.filterHeight === 2 && i.filterWidth === 2 && i.strideHeight === 2 && i.strideWidth === 2 &&
    i.padInfo.top === 0 && i.padInfo.left === 0 && i.inHeight === 2 * i.outHeight && i.inWidth === 2 * i.outWidth &&
    i.inChannels >= 4
  );
}

function poolInfo(args: KernelArgs): { info: PoolInfo; dy: tf.TensorInfo; input: tf.TensorInfo } {
  const { dy, input } = args.inputs;
  if (!dy || !input) throw new Error('MaxPoolGrad: needs dy and input');
  const a = args.attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  return { info: tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode), dy, input };
}

export function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
  const { info, dy, input } = poolInfo(args);
  const simd = tiles2x2(info) ? simdKernels(args.backend) : null;
  if (!simd) return maxPoolGradJs(args);
  const backend = args.backend as HeapBackend;
  const dx = backend.makeOutput([...input.shape], 'float32');
  // Offsets only after makeOutput: allocating may grow the heap (offsets stay, views would detach).
  const [x, g, out] = [heapFloats(backend, input, 'MaxPoolGrad', 'input'), heapFloats(backend, dy, 'MaxPoolGrad', 'dy'), heapFloats(backend, dx, 'MaxPoolGrad', 'output')];
  simd.maxPoolGrad2x2(x.byteOffset, g.byteOffset, out.byteOffset, info.batchSize * info.outHeight, info.outWidth, info.inChannels);
  return dx;
}

/** The JS pass, for every pool shape (exported for the tests that hold the SIMD kernel to it). */
export function maxPoolGradJs(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as HeapBackend;
  const { info, dy, input } = poolInfo(args);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const dx = backend.makeOutput([...input.shape], 'float32');
  // Views only after makeOutput: allocating may grow (and detach) the wasm heap.
  const x = heapFloats(backend, input, 'MaxPoolGrad', 'input');
  const g = heapFloats(backend, dy, 'MaxPoolGrad', 'dy');
  const out = heapFloats(backend, dx, 'MaxPoolGrad', 'output');
  out.fill(0);
  // Loop order b, oh, ow, c, then the window: the running max and its index stay in registers (no per-window
  // state arrays to reset), which is what makes this JS loop beat the stock C kernel.
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - top;
      const hStart = Math.max(0, h0);
      const hEnd = Math.min(inHeight, h0 + filterHeight);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - left;
        const wStart = Math.max(0, w0);
        const wEnd = Math.min(inWidth, w0 + filterWidth);
        const gBase = ((b * outHeight + oh) * outWidth + ow) * channels;
        if (filterHeight === 2 && filterWidth === 2 && hEnd - hStart === 2 && wEnd - wStart === 2) {
          // The common 2×2 window, unrolled (same visiting order and strict '>' as the general loop below).
          const rowStride = inWidth * channels;
          for (let c = 0, i0 = ((b * inHeight + hStart) * inWidth + wStart) * channels; c < channels; c++, i0++) {
            let best = -Infinity;
            let at = -1;
            const v0 = x[i0]!, v1 = x[i0 + channels]!, v2 = x[i0 + rowStride]!, v3 = x[i0 + rowStride + channels]!;
            if (v0 > best) { best = v0; at = i0; }
            if (v1 > best) { best = v1; at = i0 + channels; }
            if (v2 > best) { best = v2; at = i0 + rowStride; }
            if (v3 > best) at = i0 + rowStride + channels;
            if (at >= 0) out[at]! += g[gBase + c]!;
          }
          continue;
        }
        for (let c = 0; c < channels; c++) {
          let best = -Infinity;
          let at = -1;
          for (let h = hStart; h < hEnd; h++) {
            let i = ((b * inHeight + h) * inWidth + wStart) * channels + c;
            for (let w = wStart; w < wEnd; w++, i += channels) {
              const v = x[i]!;
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) out[at]! += g[gBase + c]!;
        }
      }
    }
  }
  return dx;
}
