// The input gradient of a convolution (plain or depthwise) as forward convolutions of dy with the flipped filter.
// Stride 1: one convolution. Stride s > 1: one convolution per phase (conv-geometry.ts: inputGradPhases), each on
// dy itself with the taps that phase meets, interleaved afterwards; no products with inserted zeros.
import * as tf from '@tensorflow/tfjs-core';
import { inputGradAxis, inputGradPhases, type ConvAxis } from './conv-geometry.ts';
import { cropForConv, zeroDilate, type Pair } from './forward-conv.ts';
import { heapFloats, type HeapBackend } from './heap.ts';
import { simdKernels } from './simd.ts';

/** A stride-1 forward convolution (XNNPACK) with the given dilations and explicit padding. */
export type ForwardRun = (x: tf.Tensor4D, filter: tf.Tensor4D, dilations: Pair, pad: ReturnType<typeof cropForConv>['pad']) => tf.Tensor4D;

/**
 * dx [B, inH, inW, C] from dy [B, OH, OW, ·] and `flipped` (the filter reversed along both spatial axes, its
 * channel axes already as `run` needs them). Call inside tf.tidy.
 */
export function inputGradient(dy: tf.Tensor4D, flipped: tf.Tensor4D, h: ConvAxis, w: ConvAxis, outChannels: number, run: ForwardRun): tf.Tensor4D {
  const batch = dy.shape[0];
  if (h.dilation !== 1 || w.dilation !== 1) {
    // Dilated filters (stride 1 in every tfjs op): one convolution over dy with s − 1 zeros between samples.
    const dyd = zeroDilate(dy, h.stride, w.stride);
    const hp = inputGradAxis(h, dyd.shape[1]);
    const wp = inputGradAxis(w, dyd.shape[2]);
    if (hp.keptLength <= 0 || wp.keptLength <= 0) return tf.zeros([batch, h.inSize, w.inSize, outChannels]);
    const fed = cropForConv(dyd, hp, wp);
    return run(fed.x, flipped, [h.dilation, w.dilation], fed.pad);
  }
  const hs = inputGradPhases(h);
  const ws = inputGradPhases(w);
  // A phase with no taps (filter shorter than the stride, as ResNet's 1×1 stride-2 projection) is all zeros: null
  // here, so that putting the phases in place can leave zeros instead of writing and copying them.
  const grid = hs.phases.map((ph) =>
    ws.phases.map((pw) => {
      if (ph.taps === 0 || pw.taps === 0 || ph.plan.keptLength <= 0 || pw.plan.keptLength <= 0) return null;
      const [kh, kw, a, b] = flipped.shape;
      const sub =
        ph.taps === kh && pw.taps === kw
          ? flipped
          : (tf.stridedSlice(flipped, [ph.tapStart, pw.tapStart, 0, 0], [ph.tapStart + h.stride * (ph.taps - 1) + 1, pw.tapStart + w.stride * (pw.taps - 1) + 1, a, b], [h.stride, w.stride, 1, 1]) as tf.Tensor4D);
      const fed = cropForConv(dy, ph.plan, pw.plan);
      return run(fed.x, sub, [1, 1], fed.pad);
    }),
  );
  const shape: [number, number, number, number] = [batch, h.inSize, w.inSize, outChannels];
  if (!grid.some((row) => row.some(Boolean))) return tf.zeros(shape);
  // Stride 1 is one phase, dx itself: nothing to put in place.
  if (grid.length === 1 && grid[0]!.length === 1) return interleavePhases(grid, shape);
  return scatterPhases(grid, shape) ?? interleavePhases(grid, shape);
}

/**
 * The phases put in place by the SIMD kernel (simd.ts: scatter_phase), one pass each, straight into dx: null when
 * the kernels are not loaded (the tfjs path then interleaves).
 */
function scatterPhases(grid: (tf.Tensor4D | null)[][], shape: [number, number, number, number]): tf.Tensor4D | null {
  const backend = tf.backend();
  const simd = simdKernels(backend);
  const live = grid.flat().filter((p): p is tf.Tensor4D => p !== null);
  if (!simd || live.some((p) => p.dtype !== 'float32')) return null;
  const heap = backend as unknown as HeapBackend;
  const out = heap.makeOutput(shape, 'float32');
  try {
    const dx = heapFloats(heap, out, tf.Conv2DBackpropInput, 'dx');
    if (live.length < grid.length * grid[0]!.length) dx.fill(0);
    const [b, height, width, c] = shape;
    grid.forEach((row, r) =>
      row.forEach((phase, col) => {
        if (!phase) return;
        const [, rows, cols] = phase.shape;
        simd.scatterPhase(heapFloats(heap, phase, tf.Conv2DBackpropInput, 'phase').byteOffset, dx.byteOffset, b, rows, cols, c, grid.length, row.length, r, col, height, width);
      }),
    );
  } catch (err) {
    heap.disposeData(out.dataId);
    throw err;
  }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor4D;
}

/** The tfjs path: the phases of each row interleaved along W, then the rows along H, cropped to dx's shape. */
function interleavePhases(grid: (tf.Tensor4D | null)[][], shape: [number, number, number, number]): tf.Tensor4D {
  const full = interleave(grid.map((row) => (row.some(Boolean) ? interleave(row, 2) : null)), 1);
  return full.shape[1] === shape[1] && full.shape[2] === shape[2] ? full : tf.slice(full, [0, 0, 0, 0], shape);
}

/**
 * Interleaves the phases of one spatial axis (1: H, 2: W): phase c holds positions s·m + c, so stacking the phases
 * right after that axis lays them out in place. Null phases are zeros; when only one phase is not, this is a pad.
 */
function interleave(phases: (tf.Tensor4D | null)[], axis: 1 | 2): tf.Tensor4D {
  const s = phases.length;
  const live = phases.filter((p): p is tf.Tensor4D => p !== null);
  const shape = live[0]!.shape;
  if (s === 1) return live[0]!;
  const out = [...shape] as [number, number, number, number];
  out[axis] *= s;
  if (live.length === 1) {
    const at = phases.indexOf(live[0]!);
    const spread = [...shape.slice(0, axis + 1), 1, ...shape.slice(axis + 1)];
    const pads = spread.map((_, i): [number, number] => (i === axis + 1 ? [at, s - 1 - at] : [0, 0]));
    return tf.reshape(tf.pad(tf.reshape(live[0]!, spread), pads), out);
  }
  return tf.reshape(tf.stack(phases.map((p) => p ?? tf.zeros(shape)), axis + 1), out);
}
