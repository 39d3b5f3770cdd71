// MaxPoolGrad for wasm, written in JS over the wasm heap. The stock wasm kernel took ~10 ms per LeNet step
// (a quarter of it) for two small pools; one pass over the windows, keeping the running max per channel in
// NHWC order, takes a fraction of that. Semantics match the cpu and wasm kernels: each window's gradient goes
// to its first maximum in row-major order (strict '>', so NaN windows pass nothing), summed where windows overlap.
import * as tf from '@tensorflow/tfjs-core';

/** The two BackendWasm methods we use (typed structurally to keep tfjs-backend-wasm's types out). */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function floats(backend: HeapBackend, t: tf.TensorInfo): Float32Array {
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error(`MaxPoolGrad: float32 tensors only, got ${t.dtype}`);
  return a;
}

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as HeapBackend;
  const { dy, input } = args.inputs;
  if (!dy || !input) throw new Error('MaxPoolGrad: needs dy and input');
  const a = args.attrs as unknown as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const dx = backend.makeOutput([...input.shape], 'float32');
  // Views only after makeOutput: allocating may grow (and detach) the wasm heap.
  const x = floats(backend, input);
  const g = floats(backend, dy);
  const out = floats(backend, dx);
  out.fill(0);
  const best = new Float32Array(channels);
  const at = new Int32Array(channels);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - info.padInfo.top;
      const hStart = Math.max(0, h0);
      const hEnd = Math.min(inHeight, h0 + filterHeight);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - info.padInfo.left;
        const wStart = Math.max(0, w0);
        const wEnd = Math.min(inWidth, w0 + filterWidth);
        // Plain loops, not TypedArray.fill: a call per window costs more than the loop at these channel counts.
        for (let c = 0; c < channels; c++) {
          best[c] = -Infinity;
          at[c] = -1;
        }
        for (let h = hStart; h < hEnd; h++) {
          for (let w = wStart; w < wEnd; w++) {
            const base = ((b * inHeight + h) * inWidth + w) * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const gBase = ((b * outHeight + oh) * outWidth + ow) * channels;
        for (let c = 0; c < channels; c++) {
          const i = at[c]!;
          if (i >= 0) out[i]! += g[gBase + c]!;
        }
      }
    }
  }
  return dx;
}
