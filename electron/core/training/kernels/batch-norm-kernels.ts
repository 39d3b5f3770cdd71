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

/**
 * The per-channel passes run four channels at a time down a block of rows (stride C), with the sums in local
 * doubles: V8 keeps those in registers, where a row-major loop over a per-channel Float64Array loads and stores
 * each sum per element. A block of rows stays in cache while its channel groups pass over it. For the compact
 * ResNet's activations the kernels run 1.5–3× faster (bench:step-profile --recipe resnet); each channel still adds
 * its rows in order, so the sums are the same. Channels past the last group of four run one at a time.
 */
const GROUP = 4;
const BLOCK_BYTES = 32 * 1024;

function rowsPerBlock(C: number): number {
  return Math.max(1, Math.floor(BLOCK_BYTES / (4 * C)));
}

/** Σ (a − shiftA) and Σ (a − shiftA)·(b − shiftB) per channel, over the rows of [rows, C] (b may be a). */
function channelSums(a: Float32Array, b: Float32Array, shiftA: Float64Array, shiftB: Float64Array, C: number, rows: number): { first: Float64Array; second: Float64Array } {
  const first = new Float64Array(C);
  const second = new Float64Array(C);
  const block = rowsPerBlock(C);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const start = r0 * C;
    const end = Math.min(rows, r0 + block) * C;
    let c = 0;
    for (; c + GROUP <= C; c += GROUP) {
      const ha0 = shiftA[c]!, ha1 = shiftA[c + 1]!, ha2 = shiftA[c + 2]!, ha3 = shiftA[c + 3]!;
      const hb0 = shiftB[c]!, hb1 = shiftB[c + 1]!, hb2 = shiftB[c + 2]!, hb3 = shiftB[c + 3]!;
      let s0 = first[c]!, s1 = first[c + 1]!, s2 = first[c + 2]!, s3 = first[c + 3]!;
      let p0 = second[c]!, p1 = second[c + 1]!, p2 = second[c + 2]!, p3 = second[c + 3]!;
      for (let i = start + c; i < end; i += C) {
        const d0 = a[i]! - ha0, d1 = a[i + 1]! - ha1, d2 = a[i + 2]! - ha2, d3 = a[i + 3]! - ha3;
        s0 += d0; s1 += d1; s2 += d2; s3 += d3;
        p0 += d0 * (b[i]! - hb0); p1 += d1 * (b[i + 1]! - hb1); p2 += d2 * (b[i + 2]! - hb2); p3 += d3 * (b[i + 3]! - hb3);
      }
      first[c] = s0; first[c + 1] = s1; first[c + 2] = s2; first[c + 3] = s3;
      second[c] = p0; second[c + 1] = p1; second[c + 2] = p2; second[c + 3] = p3;
    }
    for (; c < C; c++) {
      const ha = shiftA[c]!, hb = shiftB[c]!;
      let s = first[c]!, p = second[c]!;
      for (let i = start + c; i < end; i += C) {
        const d = a[i]! - ha;
        s += d;
        p += d * (b[i]! - hb);
      }
      first[c] = s;
      second[c] = p;
    }
  }
  return { first, second };
}

/** out = a·x + k per channel: the forward pass's normalization, folded into one scale and offset. */
function channelScale(out: Float32Array, x: Float32Array, a: Float64Array, k: Float64Array, C: number, rows: number): void {
  const block = rowsPerBlock(C);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const start = r0 * C;
    const end = Math.min(rows, r0 + block) * C;
    let c = 0;
    for (; c + GROUP <= C; c += GROUP) {
      const a0 = a[c]!, a1 = a[c + 1]!, a2 = a[c + 2]!, a3 = a[c + 3]!;
      const k0 = k[c]!, k1 = k[c + 1]!, k2 = k[c + 2]!, k3 = k[c + 3]!;
      for (let i = start + c; i < end; i += C) {
        out[i] = a0 * x[i]! + k0;
        out[i + 1] = a1 * x[i + 1]! + k1;
        out[i + 2] = a2 * x[i + 2]! + k2;
        out[i + 3] = a3 * x[i + 3]! + k3;
      }
    }
    for (; c < C; c++) {
      const ac = a[c]!, kc = k[c]!;
      for (let i = start + c; i < end; i += C) out[i] = ac * x[i]! + kc;
    }
  }
}

/** out = a·u + b·(v − shift) + k per channel: the input gradient. */
function channelAffine(out: Float32Array, u: Float32Array, v: Float32Array, a: Float64Array, b: Float64Array, shift: Float64Array, k: Float64Array, C: number, rows: number): void {
  const block = rowsPerBlock(C);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const start = r0 * C;
    const end = Math.min(rows, r0 + block) * C;
    let c = 0;
    for (; c + GROUP <= C; c += GROUP) {
      const a0 = a[c]!, a1 = a[c + 1]!, a2 = a[c + 2]!, a3 = a[c + 3]!;
      const b0 = b[c]!, b1 = b[c + 1]!, b2 = b[c + 2]!, b3 = b[c + 3]!;
      const h0 = shift[c]!, h1 = shift[c + 1]!, h2 = shift[c + 2]!, h3 = shift[c + 3]!;
      const k0 = k[c]!, k1 = k[c + 1]!, k2 = k[c + 2]!, k3 = k[c + 3]!;
      for (let i = start + c; i < end; i += C) {
        out[i] = a0 * u[i]! + b0 * (v[i]! - h0) + k0;
        out[i + 1] = a1 * u[i + 1]! + b1 * (v[i + 1]! - h1) + k1;
        out[i + 2] = a2 * u[i + 2]! + b2 * (v[i + 2]! - h2) + k2;
        out[i + 3] = a3 * u[i + 3]! + b3 * (v[i + 3]! - h3) + k3;
      }
    }
    for (; c < C; c++) {
      const ac = a[c]!, bc = b[c]!, hc = shift[c]!, kc = k[c]!;
      for (let i = start + c; i < end; i += C) out[i] = ac * u[i]! + bc * (v[i]! - hc) + kc;
    }
  }
}

/** Inputs x, gamma, beta; attr epsilon. Outputs y, the batch mean and the (biased) batch variance per channel. */
export function batchNormTrain(args: KernelArgs): tf.TensorInfo[] {
  const p = prepare(args, ['x', 'gamma', 'beta'], 2);
  const { x, gamma, beta } = p.in as { x: Float32Array; gamma: Float32Array; beta: Float32Array };
  const [y, meanOut, varOut] = p.out as [Float32Array, Float32Array, Float32Array];
  const { channels: C, rows, epsilon } = p;

  // Sums around each channel's first value, so Σd² − (Σd)²/N does not cancel for activations far from zero.
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) shift[c] = x[c]!;
  const { first: sum, second: sumSq } = channelSums(x, x, shift, shift, C, rows);
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
  channelScale(y, x, scale, offset, C, rows);
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

  const mu = new Float64Array(C);
  for (let c = 0; c < C; c++) mu[c] = mean[c]!;
  const { first: sumDy, second: sumDyCentered } = channelSums(dy, x, new Float64Array(C), mu, C, rows);
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
  channelAffine(dx, dy, x, a, b, mu, k, C, rows);
  return p.outInfos;
}
