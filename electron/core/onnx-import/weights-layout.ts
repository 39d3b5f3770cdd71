/**
 * ONNX weights in Keras layouts. ONNX (like PyTorch) stores a convolution kernel as [out, in/groups, kh, kw] and a
 * Gemm weight as [out, in] when transB is set; TF.js wants [kh, kw, in, out], depthwise [kh, kw, channels,
 * multiplier], and dense [in, out].
 */

/** [O, I, kh, kw] → [kh, kw, I, O]. */
export function convKernel(w: Float32Array, dims: readonly number[]): Float32Array {
  const [o, i, kh, kw] = dims as [number, number, number, number];
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = w[((a * i + b) * kh + y) * kw + x]!;
  return out;
}

/** [C·m, 1, kh, kw] → [kh, kw, C, m]: ONNX's output channel c·m + j is TF.js's channel c, multiplier j. */
export function depthwiseKernel(w: Float32Array, dims: readonly number[], channels: number): Float32Array {
  const [cm, , kh, kw] = dims as [number, number, number, number];
  const m = cm / channels;
  const out = new Float32Array(w.length);
  for (let c = 0; c < channels; c++)
    for (let j = 0; j < m; j++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * channels + c) * m + j] = w[((c * m + j) * kh + y) * kw + x]!;
  return out;
}

/** A Gemm/MatMul weight as a dense kernel [in, out], scaled by Gemm's alpha. */
export function denseKernel(w: Float32Array, dims: readonly number[], transposed: boolean, alpha = 1): Float32Array {
  const [rows, cols] = dims as [number, number];
  const out = new Float32Array(w.length);
  if (!transposed) {
    for (let k = 0; k < w.length; k++) out[k] = w[k]! * alpha;
    return out;
  }
  // w is [out=rows, in=cols]
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]! * alpha;
  return out;
}
