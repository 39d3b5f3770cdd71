// Batch normalization's training pass and its gradient as two passes each over the wasm heap: SIMD kernels
// (simd.ts) where they are loaded, else JS; both compute the same float32 operations in the same order, so either
// gives the same bits. Composed from tfjs ops the same work is ~15 full-tensor kernels (moments, broadcast
// Sub/Mul/Add, reductions over all but the channel axis, which wasm runs as a transpose then a sum): ~250 ms a layer
// at 64×64×16, batch 64. Per-channel sums run around a per-channel shift (the first row), so the variance does not
// cancel: in float32 within runs of SUM_RUN rows, each run's sum added to a float64 total. Float64 throughout, as
// before, the passes ran at half the speed of a plain pass over the same memory (2.4 ms against 1.2 for the
// forward pass at 32 × 64 × 64 × 16); a run's float32 sum stays within a few float32 roundings of the exact one.
import type * as tf from '@tensorflow/tfjs-core';
import { forChannelBlocks, prepareChannelKernel, type HeapBackend, type KernelArgs, type Prepared } from './heap.ts';
import { simdKernels, type SimdKernels } from './simd.ts';
import { reluOf, stepOf } from './relu-grad.ts';

/** The SIMD kernels and a scratch area on the wasm heap for their per-channel vectors (float64 or float32 views). */
interface Simd {
  readonly k: SimdKernels;
  readonly f64: Float64Array;
  readonly f32: Float32Array;
}

/** Rows a float32 sum runs over before it is added to the float64 total (simd.ts's channel_sums: the same). */
const SUM_RUN = 64;
const f32 = Math.fround;

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
      return v.byteOffset % 8 === 0 ? { k, f64: new Float64Array(v.buffer, v.byteOffset, 4 * channels), f32: new Float32Array(v.buffer, v.byteOffset, 4 * channels) } : null;
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

/**
 * Σ (a − shiftA) and Σ (a − shiftA)·(b − shiftB) per channel, over the rows of [rows, C] (b may be a): float32
 * operations, summed in float32 within runs of SUM_RUN rows, each run's sums added to float64 totals in row order.
 * The shifts are float32 values.
 */
function channelSums(a: Float32Array, b: Float32Array, shiftA: Float64Array, shiftB: Float64Array, C: number, rows: number, simd: Simd | null, relu: Float32Array | null = null): { first: Float64Array; second: Float64Array } {
  if (simd) {
    const { k, f64 } = simd;
    f64.set(shiftA, 0);
    f64.set(shiftB, C);
    f64.fill(0, 2 * C);
    k.channelSums(a.byteOffset, b.byteOffset, f64.byteOffset, rows, C, relu ? relu.byteOffset : 0);
    return { first: f64.slice(2 * C, 3 * C), second: f64.slice(3 * C, 4 * C) };
  }
  if (relu) a = throughRelu(a, relu);
  const first = new Float64Array(C);
  const second = new Float64Array(C);
  const run = SUM_RUN * C;
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const A = a, B = b, n = C;
      const ha0 = f32(shiftA[c]!), ha1 = f32(shiftA[c + 1]!), ha2 = f32(shiftA[c + 2]!), ha3 = f32(shiftA[c + 3]!);
      const hb0 = f32(shiftB[c]!), hb1 = f32(shiftB[c + 1]!), hb2 = f32(shiftB[c + 2]!), hb3 = f32(shiftB[c + 3]!);
      for (let r = start; r < end; r += run) {
        const runEnd = Math.min(end, r + run);
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0, p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        for (let i = r + c; i < runEnd; i += n) {
          const d0 = f32(A[i]! - ha0), d1 = f32(A[i + 1]! - ha1), d2 = f32(A[i + 2]! - ha2), d3 = f32(A[i + 3]! - ha3);
          s0 = f32(s0 + d0); s1 = f32(s1 + d1); s2 = f32(s2 + d2); s3 = f32(s3 + d3);
          p0 = f32(p0 + f32(d0 * f32(B[i]! - hb0))); p1 = f32(p1 + f32(d1 * f32(B[i + 1]! - hb1)));
          p2 = f32(p2 + f32(d2 * f32(B[i + 2]! - hb2))); p3 = f32(p3 + f32(d3 * f32(B[i + 3]! - hb3)));
        }
        first[c] = first[c]! + s0; first[c + 1] = first[c + 1]! + s1; first[c + 2] = first[c + 2]! + s2; first[c + 3] = first[c + 3]! + s3;
        second[c] = second[c]! + p0; second[c + 1] = second[c + 1]! + p1; second[c + 2] = second[c + 2]! + p2; second[c + 3] = second[c + 3]! + p3;
      }
    },
    (start, end, c) => {
      const A = a, B = b, n = C;
      const ha = f32(shiftA[c]!), hb = f32(shiftB[c]!);
      for (let r = start; r < end; r += run) {
        const runEnd = Math.min(end, r + run);
        let s = 0, p = 0;
        for (let i = r + c; i < runEnd; i += n) {
          const d = f32(A[i]! - ha);
          s = f32(s + d);
          p = f32(p + f32(d * f32(B[i]! - hb)));
        }
        first[c] = first[c]! + s;
        second[c] = second[c]! + p;
      }
    },
    SUM_RUN,
  );
  return { first, second };
}

/**
 * The gradient through a ReLU fused after batch norm, for the JS passes: dy·step(y) as tfjs's gradient of Relu
 * computes it (y the ReLU's output: positive exactly where its input is).
 */
function throughRelu(dy: Float32Array, y: Float32Array): Float32Array {
  return dy.map((d, i) => d * stepOf(y[i]!));
}

/**
 * out = a·(x − shift) + k per channel in float32: the forward pass's normalization, one scale and offset; with
 * `relu`, max(out, 0).
 */
function channelScale(out: Float32Array, x: Float32Array, a: Float64Array, shift: Float64Array, k: Float64Array, C: number, rows: number, simd: Simd | null, relu: boolean): void {
  if (simd) {
    [a, shift, k].forEach((vec, i) => simd.f32.set(vec, i * C));
    simd.k.channelAffine(out.byteOffset, x.byteOffset, 0, simd.f32.byteOffset, rows, C, 0, relu ? 1 : 0);
    return;
  }
  channelScaleJs(out, x, a, shift, k, C, rows);
  if (relu) out.forEach((v, i) => (out[i] = reluOf(v)));
}

function channelScaleJs(out: Float32Array, x: Float32Array, a: Float64Array, shift: Float64Array, k: Float64Array, C: number, rows: number): void {
  const a32 = Float32Array.from(a), h32 = Float32Array.from(shift), k32 = Float32Array.from(k);
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const O = out, X = x, n = C;
      const a0 = a32[c]!, a1 = a32[c + 1]!, a2 = a32[c + 2]!, a3 = a32[c + 3]!;
      const h0 = h32[c]!, h1 = h32[c + 1]!, h2 = h32[c + 2]!, h3 = h32[c + 3]!;
      const k0 = k32[c]!, k1 = k32[c + 1]!, k2 = k32[c + 2]!, k3 = k32[c + 3]!;
      for (let i = start + c; i < end; i += n) {
        O[i] = f32(a0 * f32(X[i]! - h0)) + k0;
        O[i + 1] = f32(a1 * f32(X[i + 1]! - h1)) + k1;
        O[i + 2] = f32(a2 * f32(X[i + 2]! - h2)) + k2;
        O[i + 3] = f32(a3 * f32(X[i + 3]! - h3)) + k3;
      }
    },
    (start, end, c) => {
      const O = out, X = x, n = C;
      const ac = a32[c]!, hc = h32[c]!, kc = k32[c]!;
      for (let i = start + c; i < end; i += n) O[i] = f32(ac * f32(X[i]! - hc)) + kc;
    },
  );
}

/** out = a·u + b·(v − shift) + k per channel in float32: the input gradient; with `relu`, u is u·step(relu). */
function channelAffine(out: Float32Array, u: Float32Array, v: Float32Array, a: Float64Array, b: Float64Array, shift: Float64Array, k: Float64Array, C: number, rows: number, simd: Simd | null, relu: Float32Array | null): void {
  if (simd) {
    [a, b, shift, k].forEach((vec, i) => simd.f32.set(vec, i * C));
    simd.k.channelAffine(out.byteOffset, u.byteOffset, v.byteOffset, simd.f32.byteOffset, rows, C, relu ? relu.byteOffset : 0, 0);
    return;
  }
  if (relu) u = throughRelu(u, relu);
  const a32 = Float32Array.from(a), b32 = Float32Array.from(b), h32 = Float32Array.from(shift), k32 = Float32Array.from(k);
  forChannelBlocks(
    C,
    rows,
    (start, end, c) => {
      const O = out, U = u, V = v, n = C;
      const a0 = a32[c]!, a1 = a32[c + 1]!, a2 = a32[c + 2]!, a3 = a32[c + 3]!;
      const b0 = b32[c]!, b1 = b32[c + 1]!, b2 = b32[c + 2]!, b3 = b32[c + 3]!;
      const h0 = h32[c]!, h1 = h32[c + 1]!, h2 = h32[c + 2]!, h3 = h32[c + 3]!;
      const k0 = k32[c]!, k1 = k32[c + 1]!, k2 = k32[c + 2]!, k3 = k32[c + 3]!;
      for (let i = start + c; i < end; i += n) {
        O[i] = f32(f32(a0 * U[i]!) + f32(b0 * f32(V[i]! - h0))) + k0;
        O[i + 1] = f32(f32(a1 * U[i + 1]!) + f32(b1 * f32(V[i + 1]! - h1))) + k1;
        O[i + 2] = f32(f32(a2 * U[i + 2]!) + f32(b2 * f32(V[i + 2]! - h2))) + k2;
        O[i + 3] = f32(f32(a3 * U[i + 3]!) + f32(b3 * f32(V[i + 3]! - h3))) + k3;
      }
    },
    (start, end, c) => {
      const O = out, U = u, V = v, n = C;
      const ac = a32[c]!, bc = b32[c]!, hc = h32[c]!, kc = k32[c]!;
      for (let i = start + c; i < end; i += n) O[i] = f32(f32(ac * U[i]!) + f32(bc * f32(V[i]! - hc))) + kc;
    },
  );
}

/**
 * Inputs x, gamma, beta; attrs epsilon and relu (true: y is max(y, 0), a ReLU layer fused after the normalization).
 * Outputs y, the batch mean and the (biased) batch variance per channel.
 */
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
  // y = scale·(x − shift) + offset per channel: scale = γ/σ, offset = β − (μ − shift)·γ/σ (around the shift, where
  // scale·x and β − μ·scale would cancel in float32 for activations far from zero).
  const scale = new Float64Array(C);
  const offset = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const m = sum[c]! / rows;
    const variance = Math.max(0, sumSq[c]! / rows - m * m);
    meanOut[c] = shift[c]! + m;
    varOut[c] = variance;
    scale[c] = gamma[c]! / Math.sqrt(variance + epsilon);
    offset[c] = beta[c]! - m * scale[c]!;
  }
  channelScale(y, x, scale, shift, offset, C, rows, simd, args.attrs?.['relu'] === true);
  return p.outInfos;
}

/**
 * Inputs dy, x, mean, variance, gamma, and y (the forward output) when a ReLU was fused; attr epsilon. Outputs dx,
 * dgamma, dbeta (with y, dy·step(y) stands for dy):
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
  const fusedRelu = args.inputs['y'] !== undefined;
  const p = prepare(args, ['dy', 'x', 'mean', 'variance', 'gamma', ...(fusedRelu ? ['y'] : [])], 2);
  const simd = simdViews();
  const { dy, x, mean, variance, gamma } = p.in as { dy: Float32Array; x: Float32Array; mean: Float32Array; variance: Float32Array; gamma: Float32Array };
  // With a ReLU fused after the normalization, dy is the ReLU's output gradient: dy·step(y) is the normalization's.
  const relu = fusedRelu ? p.in['y']! : null;
  const [dx, dGamma, dBeta] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  const mu = new Float64Array(C);
  for (let c = 0; c < C; c++) mu[c] = mean[c]!;
  const { first: sumDy, second: sumDyCentered } = channelSums(dy, x, new Float64Array(C), mu, C, rows, simd, relu);
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
  channelAffine(dx, dy, x, a, b, mu, k, C, rows, simd, relu);
  return p.outInfos;
}
