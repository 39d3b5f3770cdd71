// Batch normalization's training pass and its gradient as two JS passes each over the wasm heap. Composed from
// tfjs ops the same work is ~15 full-tensor kernels (moments, broadcast Sub/Mul/Add, reductions over all but the
// channel axis, which wasm runs as a transpose then a sum): ~250 ms a layer at 64×64×16, batch 64. Per-channel
// sums accumulate in float64, around a per-channel shift (the first row), so the variance does not cancel.
import type * as tf from '@tensorflow/tfjs-core';
import type { HeapBackend } from './max-pool-grad.ts';

/** Kernel names (not tfjs's): batch-norm.ts runs them when the active backend has them. */
export const BATCH_NORM_TRAIN = 'LoupeBatchNormTrain';
export const BATCH_NORM_GRAD = 'LoupeBatchNormGrad';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

function floats(backend: HeapBackend, t: tf.TensorInfo | undefined, name: string): Float32Array {
  if (!t) throw new Error(`batch norm: missing ${name}`);
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error(`batch norm: ${name} must be float32, got ${t.dtype}`);
  return a;
}

interface Prepared {
  /** The kernel's inputs, by name, as float32 views of the wasm heap. */
  readonly in: Record<string, Float32Array>;
  /** Its outputs: one the shape of the first input, then per-channel vectors. */
  readonly outInfos: tf.TensorInfo[];
  readonly out: Float32Array[];
  readonly channels: number;
  readonly rows: number;
  readonly epsilon: number;
}

/** Allocates the outputs (a full tensor and `vectors` per-channel ones), then views every input and output. */
function prepare(args: KernelArgs, names: readonly string[], vectors: number): Prepared {
  const backend = args.backend as HeapBackend;
  const first = args.inputs[names[0]!];
  if (!first) throw new Error(`batch norm: missing ${names[0]}`);
  const channels = first.shape[first.shape.length - 1] ?? 1;
  const rows = first.shape.reduce((a, b) => a * b, 1) / channels;
  const outInfos = [backend.makeOutput([...first.shape], 'float32')];
  for (let v = 0; v < vectors; v++) outInfos.push(backend.makeOutput([channels], 'float32'));
  // Views only after the last makeOutput: allocating may grow (and detach) the wasm heap.
  const views: Record<string, Float32Array> = {};
  for (const n of names) views[n] = floats(backend, args.inputs[n], n);
  return { in: views, outInfos, out: outInfos.map((t, i) => floats(backend, t, `output ${i}`)), channels, rows, epsilon: Number(args.attrs?.['epsilon']) };
}

/** Inputs x, gamma, beta; attr epsilon. Outputs y, the batch mean and the (biased) batch variance per channel. */
export function batchNormTrain(args: KernelArgs): tf.TensorInfo[] {
  const p = prepare(args, ['x', 'gamma', 'beta'], 2);
  const { x, gamma, beta } = p.in as { x: Float32Array; gamma: Float32Array; beta: Float32Array };
  const [y, meanOut, varOut] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) shift[c] = x[c]!;
  const sum = new Float64Array(C);
  const sumSq = new Float64Array(C);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) {
      const d = x[i]! - shift[c]!;
      sum[c]! += d;
      sumSq[c]! += d * d;
    }
  }
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
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) y[i] = x[i]! * scale[c]! + offset[c]!;
  }
  return p.outInfos;
}

/**
 * Inputs dy, x, mean, variance, gamma; attr epsilon. Outputs dx, dgamma, dbeta:
 *   dβ = Σ dy,  dγ = Σ dy·(x−μ)/σ,  dx = γ/σ · (dy − dβ/N − (x−μ)/σ · dγ/N).
 */
export function batchNormGrad(args: KernelArgs): tf.TensorInfo[] {
  const p = prepare(args, ['dy', 'x', 'mean', 'variance', 'gamma'], 2);
  const { dy, x, mean, variance, gamma } = p.in as { dy: Float32Array; x: Float32Array; mean: Float32Array; variance: Float32Array; gamma: Float32Array };
  const [dx, dGamma, dBeta] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  const sumDy = new Float64Array(C);
  const sumDyCentered = new Float64Array(C);
  const mu = new Float64Array(C);
  for (let c = 0; c < C; c++) mu[c] = mean[c]!;
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) {
      const g = dy[i]!;
      sumDy[c]! += g;
      sumDyCentered[c]! += g * (x[i]! - mu[c]!);
    }
  }
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
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < C; c++, i++) dx[i] = a[c]! * dy[i]! + b[c]! * (x[i]! - mu[c]!) + k[c]!;
  }
  return p.outInfos;
}
