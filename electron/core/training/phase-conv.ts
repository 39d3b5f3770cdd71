/**
 * A convolution over one channel followed by a 2×2 pooling (LeNet-5's first layer), computed as one convolution
 * over 2×2 blocks of the image and a pooling over the four output phases.
 *
 * Why: with one input channel, XNNPACK's convolution reads one value per tap and per output pixel, and runs at a
 * third of the speed it reaches on LeNet's second layer (tf.profile: 5.8 ms of a 13 ms LeNet batch of 256).
 * Rearranged, each block of 2×2 pixels is one input pixel of 4 channels, and each output block holds the 4 output
 * pixels (phases) the 2×2 pool reduces: out[Y, X, p·O + o] = Σ w′[by, bx, q, p·O + o] · block[Y + by − top, X + bx −
 * left, q]. For a 5×5 kernel the block kernel is 3×3 (36 of its taps per phase, 25 of them non-zero), so it does
 * 1.44× the multiplications at about twice the speed; the pool then runs over the phases instead of the pixels.
 * Kernels under 5×5 would do 4× the work (3×3 → 3×3 blocks): they keep the plain convolution.
 */
import * as tf from '@tensorflow/tfjs-core';

type Pad = [[number, number], [number, number], [number, number], [number, number]];

/** How one spatial axis of the convolution maps onto blocks. */
type AxisPhases = { k: number; padBefore: number; minOffset: number; blocks: number; pad: [number, number] };

export type PhasePlan = {
  /** Input height and width (even), output channels. */
  h: number;
  w: number;
  outChannels: number;
  pool: 'max' | 'avg';
  rows: AxisPhases;
  cols: AxisPhases;
  /** For each weight of the block kernel [by, bx, q, p·O + o], its index in the flat kernel, or kernel.size for 0. */
  gather: Int32Array;
};

/** The block axis of a stride-1 convolution of size k over n pixels (n even), pooled 2 by 2; null if none fits. */
function axisPhases(n: number, k: number, padding: 'same' | 'valid'): AxisPhases | null {
  if (n % 2 !== 0) return null;
  // tfjs's 'same' at stride 1 pads k − 1 in all, the smaller half before.
  const padBefore = padding === 'same' ? Math.floor((k - 1) / 2) : 0;
  const out = padding === 'same' ? n : n - k + 1;
  const pooled = Math.floor(out / 2);
  if (pooled < 1) return null;
  // Output pixel 2Y + p reads input pixel 2Y + p + t − padBefore, in block Y + floor((p + t − padBefore) / 2).
  const minOffset = Math.floor(-padBefore / 2);
  const maxOffset = Math.floor((k - padBefore) / 2);
  const blocks = maxOffset - minOffset + 1;
  const before = -minOffset;
  const after = pooled - n / 2 - before + blocks - 1;
  if (after < 0) return null;
  return { k, padBefore, minOffset, blocks, pad: [before, after] };
}

/**
 * The plan for conv(kernel kh×kw, stride 1, dilation 1, `padding`) over [h, w, 1] followed by a 2×2 pool of stride
 * 2 ('valid'), or null when the rearrangement does not apply or would not pay.
 */
export function phasePlan(h: number, w: number, inChannels: number, kh: number, kw: number, outChannels: number, padding: 'same' | 'valid', pool: 'max' | 'avg'): PhasePlan | null {
  if (inChannels !== 1 || kh < 5 || kw < 5) return null;
  const rows = axisPhases(h, kh, padding);
  const cols = axisPhases(w, kw, padding);
  if (!rows || !cols) return null;
  const O = outChannels;
  const zero = kh * kw * O;
  const gather = new Int32Array(rows.blocks * cols.blocks * 4 * 4 * O);
  let i = 0;
  for (let by = 0; by < rows.blocks; by++)
    for (let bx = 0; bx < cols.blocks; bx++)
      for (let dy = 0; dy < 2; dy++)
        for (let dx = 0; dx < 2; dx++)
          for (let py = 0; py < 2; py++)
            for (let px = 0; px < 2; px++)
              for (let o = 0; o < O; o++) {
                const ky = 2 * (by + rows.minOffset) + dy - py + rows.padBefore;
                const kx = 2 * (bx + cols.minOffset) + dx - px + cols.padBefore;
                gather[i++] = ky >= 0 && ky < kh && kx >= 0 && kx < kw ? (ky * kw + kx) * O + o : zero;
              }
  return { h, w, outChannels: O, pool, rows, cols, gather };
}

/** pool(activation(conv(x, kernel) + bias)) as planned; x is [n, h, w, 1], the kernel [kh, kw, 1, O]. */
export function phaseConvPool(plan: PhasePlan, x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor | undefined, activation: 'relu' | 'linear'): tf.Tensor4D {
  const { h, w, outChannels: O, rows, cols } = plan;
  const n = x.shape[0];
  const blocks = tf.reshape(tf.transpose(tf.reshape(x, [n, h / 2, 2, w / 2, 2]), [0, 1, 3, 2, 4]), [n, h / 2, w / 2, 4]) as tf.Tensor4D;
  const flat = tf.concat([tf.reshape(kernel, [-1]), tf.zeros([1])]);
  const filter = tf.reshape(tf.gather(flat, tf.tensor1d(plan.gather, 'int32')), [rows.blocks, cols.blocks, 4, 4 * O]) as tf.Tensor4D;
  // A concatenation, not a gather or tile: the wasm kernel wants a bias whose data was made rank 1.
  const phasedBias = bias ? tf.concat([bias, bias, bias, bias]) : undefined;
  const pad: Pad = [[0, 0], rows.pad, cols.pad, [0, 0]];
  const y = tf.fused.conv2d({ x: blocks, filter, strides: 1, pad, bias: phasedBias, activation });
  const [, ph, pw] = y.shape;
  // Phase-major channels: the 4 phases of a channel lie O apart, a window of 4 "pixels" of O channels each.
  const phases = tf.reshape(y, [n * ph, pw, 4, O]) as tf.Tensor4D;
  const pooled = plan.pool === 'max' ? tf.maxPool(phases, [1, 4], [1, 4], 'valid') : tf.avgPool(phases, [1, 4], [1, 4], 'valid');
  return tf.reshape(pooled, [n, ph, pw, O]);
}
