// Convolution geometries the kernel tests share: the shape of a case, and the cases Loupe's SIMD filter gradient
// takes (dilation 1; output channels a multiple of 8, or padded up to one). wasm-kernels.test.ts checks them
// against finite differences and the cpu kernels; simd-kernels.test.ts against the kernel's summation order.
export type Shape4 = [number, number, number, number];
export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  x: Shape4;
  f: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dilations?: number;
}

/**
 * Padding on every side, strides 1 to 3, rectangular kernels (3×3 with stride 1 only where Winograd does not take
 * it: WINOGRAD_CASES), a 1×1 projection, several 4×8 tiles, input
 * channels past the last four (a grey stem's 1, an RGB stem's 3, LeNet's 6; their taps in groups of four, with
 * outputs at the row's ends that only some taps reach), and output channels padded to the next eight (LeNet's first
 * convolution's 6, 12 with a stride).
 */
export const SIMD_FILTER_GRAD_CASES: readonly ConvCase[] = [
  { x: [2, 7, 9, 4], f: [3, 2, 4, 8], strides: 1, pad: 'same' },
  { x: [3, 8, 8, 8], f: [3, 3, 8, 16], strides: 2, pad: 'same' },
  { x: [2, 9, 7, 4], f: [5, 4, 4, 8], strides: [2, 1], pad: 'valid' },
  { x: [2, 8, 8, 12], f: [1, 1, 12, 8], strides: 2, pad: 'valid' },
  { x: [2, 7, 7, 4], f: [3, 2, 4, 8], strides: 3, pad: 1 },
  { x: [1, 7, 8, 4], f: [3, 3, 4, 24], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 8, 8, 1], f: [3, 3, 1, 16], strides: 1, pad: 'same' },
  { x: [2, 9, 8, 3], f: [3, 3, 3, 8], strides: 2, pad: 'same' },
  { x: [3, 14, 14, 6], f: [5, 5, 6, 16], strides: 1, pad: 'valid' },
  { x: [2, 10, 10, 1], f: [5, 5, 1, 6], strides: 1, pad: 'same' },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 12], strides: 2, pad: 'same' },
  // Three channels past a four, with stride 2 (the channels past the last four go by taps in groups).
  { x: [2, 9, 9, 7], f: [3, 3, 7, 8], strides: 2, pad: 'same' },
  // A row so short that no output reaches all four taps of a group: each tap goes alone.
  { x: [1, 3, 3, 2], f: [3, 4, 2, 8], strides: 1, pad: 'same' },
];

/**
 * 3×3 stride-1 convolutions that Winograd's kernels take, forward and filter gradient (input channels a multiple
 * of 4, output channels of 8):
 * odd sizes (the last 4×4 tiles partly outside the output), 'valid', asymmetric explicit pads, a one-pixel-high
 * input, 32 and 64 channels, and two blocks of tiles whose last holds 11 (75 tiles, blocks of 64).
 */
export const WINOGRAD_CASES: readonly ConvCase[] = [
  { x: [2, 7, 9, 8], f: [3, 3, 8, 8], strides: 1, pad: 'same' },
  { x: [1, 10, 6, 4], f: [3, 3, 4, 16], strides: 1, pad: 'valid' },
  { x: [3, 9, 8, 16], f: [3, 3, 16, 8], strides: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
  { x: [2, 1, 5, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same' },
  { x: [3, 9, 9, 8], f: [3, 3, 8, 24], strides: 1, pad: 'same' },
  { x: [3, 9, 9, 64], f: [3, 3, 64, 64], strides: 1, pad: 'same' },
  // 32 channels in and out: tiles partly outside the output (7 = 4 + 3 rows), a 'valid' convolution of 4 × 7
  // outputs, asymmetric explicit pads.
  { x: [2, 7, 5, 32], f: [3, 3, 32, 32], strides: 1, pad: 'same' },
  { x: [1, 6, 9, 32], f: [3, 3, 32, 40], strides: 1, pad: 'valid' },
  { x: [2, 5, 6, 32], f: [3, 3, 32, 32], strides: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [3, 17, 17, 32], f: [3, 3, 32, 32], strides: 1, pad: 'same' }, // 75 tiles in blocks of 64: 64, 11
];

/** Convolutions Winograd's kernel leaves to XNNPACK: 3 input or 12 output channels, stride 2, dilation 2, 5×5. */
export const NOT_WINOGRAD_CASES: readonly ConvCase[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 8], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 4], f: [3, 3, 4, 12], strides: 1, pad: 'same' },
  { x: [2, 8, 8, 4], f: [3, 3, 4, 8], strides: 2, pad: 'same' },
  { x: [2, 9, 9, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same', dilations: 2 },
  { x: [2, 9, 9, 4], f: [5, 5, 4, 8], strides: 1, pad: 'same' },
];

/**
 * Convolutions the direct kernel takes (direct-conv.ts: at most 16 input channels, 3×3 taps or more, dilation 1),
 * forward and as stride-1 input gradients: LeNet-5's two layers (6 output channels: a store of 4 + 2), a grey stem,
 * a stride-2 layer from 16 channels, rows of fewer than four outputs, 3 and 13 output channels (stores of 2 + 1 and
 * 8 + 4 + 1), asymmetric strides and pads, and padding so wide that the corner outputs reach no input at all.
 */
export const DIRECT_CASES: readonly ConvCase[] = [
  { x: [2, 10, 10, 1], f: [5, 5, 1, 6], strides: 1, pad: 'same' },
  { x: [3, 14, 14, 6], f: [5, 5, 6, 16], strides: 1, pad: 'valid' },
  { x: [2, 8, 8, 1], f: [3, 3, 1, 16], strides: 1, pad: 'same' },
  { x: [2, 9, 8, 16], f: [3, 3, 16, 32], strides: 2, pad: 'same' },
  { x: [1, 6, 3, 4], f: [5, 5, 4, 8], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 3], strides: 1, pad: 'same' },
  { x: [2, 9, 11, 2], f: [3, 4, 2, 13], strides: [2, 1], pad: [[0, 0], [1, 0], [2, 1], [0, 0]] },
  { x: [1, 4, 5, 2], f: [3, 3, 2, 8], strides: 1, pad: [[0, 0], [3, 3], [4, 4], [0, 0]] },
  { x: [2, 11, 10, 5], f: [5, 3, 5, 7], strides: 3, pad: 'valid' },
];
