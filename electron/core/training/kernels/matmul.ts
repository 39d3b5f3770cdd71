// BatchMatMul / _FusedMatMul with transposeA or transposeB: the wasm backend sends these to a slow path (5–8×
// slower than the plain product at dense-layer sizes, measured in bench/kernels.ts), and every dense layer's
// gradient uses them (dW = xᵀ·dy, dx = dy·Wᵀ). Transposing the operand explicitly (one cheap XNNPACK
// transpose) and calling the stock kernel without transposes is much faster and gives the same result.
import * as tf from '@tensorflow/tfjs-core';

function swapLastTwo(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(t, perm);
}

/** Wraps a stock wasm matmul kernel so it never sees a transpose flag. */
export function withoutTransposes(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean } | undefined;
    if (!attrs?.transposeA && !attrs?.transposeB) return stock(args);
    const { a, b } = args.inputs;
    if (!(a instanceof tf.Tensor) || !(b instanceof tf.Tensor)) return stock(args);
    const made: tf.Tensor[] = [];
    const aIn = attrs.transposeA ? made[made.push(swapLastTwo(a)) - 1]! : a;
    const bIn = attrs.transposeB ? made[made.push(swapLastTwo(b)) - 1]! : b;
    try {
      return stock({ ...args, inputs: { ...args.inputs, a: aIn, b: bIn }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      tf.dispose(made);
    }
  };
}
