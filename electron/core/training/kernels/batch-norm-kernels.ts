// Batch normalization's training pass and its gradient as two passes each over the wasm heap: SIMD kernels
// (simd.ts) where they are loaded, else JS; both compute the same float64 operations in the same order, so either
// gives the same bits. Composed from tfjs ops the same work is ~15 full-tensor kernels (moments, broadcast
// Sub/Mul/Add, reductions over all but the channel axis, which wasm runs as a transpose then a sum): ~250 ms a layer
// at 64×64×16, batch 64. Per-channel sums accumulate in float64, around a per-channel shift (the first row), so the
// variance does not cancel.
import type * as tf from '@tensorflow/tfjs-core';
import { forChannelBlocks, prepareChannelKernel, type HeapBackend, type KernelArgs, type Prepared } from './heap.ts';
import { simdKernels, type SimdKernels } from './simd.ts';

/** The SIMD kernels and a float64 scratch area on the wasm heap for their per-channel vectors. */
interface Simd {
  readonly k: SimdKernels;
  readonly f64: Float64Array;
}

/**
 * Runs a batch-norm kernel with the SIMD passes when they are loaded: allocates their scratch area (4 float64 per
 * channel) before `run` makes its outputs and views (an allocation may grow the heap and detach earlier views), and
 * frees it after.
 */
function withSimd<T>(args: KernelArgs, run: (views: () => Simd | null) => T): T {
  const k = simdKernels(args.backend);
  const first = Object.values(args.inputs)[0];
  if (!k || !first) return run(() => null);
  const backend = args.backend as HeapBackend;
  const channels = first.shape[first.shape.length - 1] ?? 1;
  const scratch = backend.makeOutput([8 * channels], 'float32');
  try {
    return run(() => {
      const v = backend.typedArrayFromHeap(scratch);
      // malloc's blocks are 8-aligned; were one not, the JS passes run.
      return v.byteOffset % 8 === 0 ? { k, f64: new Float64Array(v.buffer, v.byteOffset, 4 * channels) } : null;
    });
  } finally {
    backend.disposeData(scratch.dataId);
  }
}

/** Kernel names (not tfjs's): batch-norm.ts runs them when the active backend has them. */
export const BATCH_NORM_TRAIN = 'LoupeBatchNormTrain';
export const BATCH_NORM_GRAD = 'LoupeBatchNormGrad';

/** The per-channel kernel plumbing (heap.ts), with the epsilon attribute both kernels take. */
function prepare(args: KernelArgs, names: readonly string[], vectors: number): Prepared & { epsilon: number } {
  return { ...prepareChannelKernel('batch norm', args, names, vectors), epsilon: Number(args.attrs?.['epsilon']) };
}

/** Σ (a − shiftA) and Σ (a − shiftA)·(b − shiftB) per channel, over the rows of [rows, C] (b may be a). */
function channelSums(a: Float32Array, b: Float32Array, shiftA: Float64Array, shiftB: Float64Array, C: number, rows: number, simd: Simd | null): { first: Float64Array; second: Float64Array } {
  if (simd) {
    const { k, f64 } = simd;
    f64.set(shiftA, 0);
    f64.set(shiftB, C);
    f64.fill(0, 2 * C);
    k.channelSums(a.byteOffset, b.byteOffset, f64.byteOffset, rows, C);
    return { first: f64.slice(2 * C, 3 * C), second: f64.slice(3 * C, 4 * C) };
  }
  const first = new Float64Array(C);
  const second = new Float64Array(C);
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const A = a, B = b, n = C;
      const ha0 = shiftA[c]!, ha1 = shiftA[c + 1]!, ha2 = shiftA[c + 2]!, ha3 = shiftA[c + 3]!;
      const hb0 = shiftB[c]!, hb1 = shiftB[c + 1]!, hb2 = shiftB[c + 2]!, hb3 = shiftB[c + 3]!;
      let s0 = first[c]!, s1 = first[c + 1]!, s2 = first[c + 2]!, s3 = first[c + 3]!;
      let p0 = second[c]!, p1 = second[c + 1]!, p2 = second[c + 2]!, p3 = second[c + 3]!;
      for (let i = start + c; i < end; i += n) {
        const d0 = A[i]! - ha0, d1 = A[i + 1]! - ha1, d2 = A[i + 2]! - ha2, d3 = A[i + 3]! - ha3;
        s0 += d0; s1 += d1; s2 += d2; s3 += d3;
        p0 += d0 * (B[i]! - hb0); p1 += d1 * (B[i + 1]! - hb1); p2 += d2 * (B[i + 2]! - hb2); p3 += d3 * (B[i + 3]! - hb3);
      }
      first[c] = s0; first[c + 1] = s1; first[c + 2] = s2; first[c + 3] = s3;
      second[c] = p0; second[c + 1] = p1; second[c + 2] = p2; second[c + 3] = p3;
    },
    (start, end, c) => {
      const A = a, B = b, n = C;
      const ha = shiftA[c]!, hb = shiftB[c]!;
      let s = first[c]!, p = second[c]!;
      for (let i = start + c; i < end; i += n) {
        const d = A[i]! - ha;
        s += d;
        p += d * (B[i]! - hb);
      }
      first[c] = s;
      second[c] = p;
    },
  );
  return { first, second };
}

/** out = a·x + k per channel: the forward pass's normalization, folded into one scale and offset. */
function channelScale(out: Float32Array, x: Float32Array, a: Float64Array, k: Float64Array, C: number, rows: number, simd: Simd | null): void {
  if (simd) {
    simd.f64.set(a, 0);
    simd.f64.set(k, C);
    simd.k.channelAffine(out.byteOffset, x.byteOffset, 0, simd.f64.byteOffset, rows, C);
    return;
  }
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const O = out, X = x, n = C;
      const a0 = a[c]!, a1 = a[c + 1]!, a2 = a[c + 2]!, a3 = a[c + 3]!;
      const k0 = k[c]!, k1 = k[c + 1]!, k2 = k[c + 2]!, k3 = k[c + 3]!;
      for (let i = start + c; i < end; i += n) {
        O[i] = a0 * X[i]! + k0;
        O[i + 1] = a1 * X[i + 1]! + k1;
        O[i + 2] = a2 * X[i + 2]! + k2;
        O[i + 3] = a3 * X[i + 3]! + k3;
      }
    },
    (start, end, c) => {
      const O = out, X = x, n = C;
      const ac = a[c]!, kc = k[c]!;
      for (let i = start + c; i < end; i += n) O[i] = ac * X[i]! + kc;
    },
  );
}

/** out = a·u + b·(v − shift) + k per channel: the input gradient. */
function channelAffine(out: Float32Array, u: Float32Array, v: Float32Array, a: Float64Array, b: Float64Array, shift: Float64Array, k: Float64Array, C: number, rows: number, simd: Simd | null): void {
  if (simd) {
    const { f64 } = simd;
    [a, b, shift, k].forEach((vec, i) => f64.set(vec, i * C));
    simd.k.channelAffine(out.byteOffset, u.byteOffset, v.byteOffset, f64.byteOffset, rows, C);
    return;
  }
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const O = out, U = u, V = v, n = C;
      const a0 = a[c]!, a1 = a[c + 1]!, a2 = a[c + 2]!, a3 = a[c + 3]!;
      const b0 = b[c]!, b1 = b[c + 1]!, b2 = b[c + 2]!, b3 = b[c + 3]!;
      const h0 = shift[c]!, h1 = shift[c + 1]!, h2 = shift[c + 2]!, h3 = shift[c + 3]!;
      const k0 = k[c]!, k1 = k[c + 1]!, k2 = k[c + 2]!, k3 = k[c + 3]!;
      for (let i = start + c; i < end; i += n) {
        O[i] = a0 * U[i]! + b0 * (V[i]! - h0) + k0;
        O[i + 1] = a1 * U[i + 1]! + b1 * (V[i + 1]! - h1) + k1;
        O[i + 2] = a2 * U[i + 2]! + b2 * (V[i + 2]! - h2) + k2;
        O[i + 3] = a3 * U[i + 3]! + b3 * (V[i + 3]! - h3) + k3;
      }
    },
    (start, end, c) => {
      const O = out, U = u, V = v, n = C;
      const ac = a[c]!, bc = b[c]!, hc = shift[c]!, kc = k[c]!;
      for (let i = start + c; i < end; i += n) O[i] = ac * U[i]! + bc * (V[i]! - hc) + kc;
    },
  );
}

/** Inputs x, gamma, beta; attr epsilon. Outputs y, the batch mean and the (biased) batch variance per channel. */
export function batchNormTrain(args: KernelArgs): tf.TensorInfo[] {
  return withSimd(args, (simdViews) => batchNormTrainWith(args, simdViews));
}

/** The JS passes only (exported for the tests that hold the SIMD passes to them). */
export function batchNormTrainJs(args: KernelArgs): tf.TensorInfo[] {
  return batchNormTrainWith(args, () => null);
}

function batchNormTrainWith(args: KernelArgs, simdViews: () => Simd | null): tf.TensorInfo[] {
  const p = prepare(args, ['x', 'gamma', 'beta'], 2);
  const simd = simdViews();
  const { x, gamma, beta } = p.in as { x: Float32Array; gamma: Float32Array; beta: Float32Array };
  const [y, meanOut, varOut] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  // Sums around each channel's first value, so Σd² − (Σd)²/N does not cancel for activations far from zero.
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) shift[c] = x[c]!;
  const { first: sum, second: sumSq } = channelSums(x, x, shift, shift, C, rows, simd);
  // y = scale·x + offset per channel: scale = γ/σ, offset = β − μ·γ/σ, the affine inference-graph.ts folds into a
  // convolution (batchNormAffine) with the moving statistics in place of the batch's.
  const scale = new Float64Array(C);
  const offset = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const m = sum[c]! / rows;
    const variance = Math.max(0, sumSq[c]! / rows - m * m);
    const mean = shift[c]! + m;
    meanOut[c] = mean;
    varOut[c] = variance;
    scale[c] = gamma[c]! / Math.sqrt(variance + epsilon);
    offset[c] = beta[c]! - mean * scale[c]!;
  }
  channelScale(y, x, scale, offset, C, rows, simd);
  return p.outInfos;
}

/**
 * Inputs dy, x, mean, variance, gamma; attr epsilon. Outputs dx, dgamma, dbeta:
 *   dβ = Σ dy,  dγ = Σ dy·(x−μ)/σ,  dx = γ/σ · (dy − dβ/N − (x−μ)/σ · dγ/N).
 */
export function batchNormGrad(args: KernelArgs): tf.TensorInfo[] {
  return withSimd(args, (simdViews) => batchNormGradWith(args, simdViews));
}

/** The JS passes only (exported for the tests that hold the SIMD passes to them). */
export function batchNormGradJs(args: KernelArgs): tf.TensorInfo[] {
  return batchNormGradWith(args, () => null);
}

function batchNormGradWith(args: KernelArgs, simdViews: () => Simd | null): tf.TensorInfo[] {
  const p = prepare(args, ['dy', 'x', 'mean', 'variance', 'gamma'], 2);
  const simd = simdViews();
  const { dy, x, mean, variance, gamma } = p.in as { dy: Float32Array; x: Float32Array; mean: Float32Array; variance: Float32Array; gamma: Float32Array };
  const [dx, dGamma, dBeta] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  const mu = new Float64Array(C);
  for (let c = 0; c < C; c++) mu[c] = mean[c]!;
  const { first: sumDy, second: sumDyCentered } = channelSums(dy, x, new Float64Array(C), mu, C, rows, simd);
  // dx = a·dy + b·(x−μ) + k per channel: a = γ/σ, b = −γ·Σdy(x−μ)/(σ³N), k = −a·Σdy/N.
  const a = new Float64Array(C);
  const b = new Float64Array(C);
  const k = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const inv = 1 / Math.sqrt(variance[c]! + epsilon);
    dBeta[c] = sumDy[c]!;
    dGamma[c] = sumDyCentered[c]! * inv;
    a[c] = gamma[c]! * inv;
    b[c] = (-a[c]! * inv * inv * sumDyCentered[c]!) / rows;
    k[c] = (-a[c]! * sumDy[c]!) / rows;
  }
  channelAffine(dx, dy, x, a, b, mu, k, C, rows, simd);
  return p.outInfos;
}
