// The backend chain's self-test: a backend that loads is not trusted until it computes a strided, padded conv, a
// max pool and their gradients (the kernels training needs and that backends get wrong: wasm had no
// Conv2DBackpropFilter and a MaxPoolGrad that misroutes negative windows) the same as a float64 reference
// written out here. Tiny sizes: it runs in a few milliseconds.
import * as tf from '@tensorflow/tfjs-core';

const B = 2, H = 5, W = 6, CI = 2, K = 3, CO = 3, S = 2;
// 'same' padding with stride 2 on 5×6: outputs 3×3, pads (top 1, left 1); asymmetric on neither axis but the
// stride makes the gradient's zero-insertion matter.
const OH = Math.ceil(H / S), OW = Math.ceil(W / S);
const PT = Math.floor(Math.max(0, (OH - 1) * S + K - H) / 2);
const PL = Math.floor(Math.max(0, (OW - 1) * S + K - W) / 2);

function series(n: number, a: number, b: number): Float32Array {
  // Deterministic, sign-mixed, no ties (so max pooling has one winner per window).
  return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(a * i + b) * 1.5 + (i % 7) * 0.01));
}

function reference(x: Float32Array, w: Float32Array, r: Float32Array) {
  const y = new Float64Array(B * OH * OW * CO);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let kh = 0; kh < K; kh++)
          for (let kw = 0; kw < K; kw++) {
            const ih = oh * S + kh - PT;
            const iw = ow * S + kw - PL;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (let ci = 0; ci < CI; ci++)
              for (let co = 0; co < CO; co++) {
                const xi = ((b * H + ih) * W + iw) * CI + ci;
                const wi = ((kh * K + kw) * CI + ci) * CO + co;
                const yi = ((b * OH + oh) * OW + ow) * CO + co;
                y[yi]! += x[xi]! * w[wi]!;
                dx[xi]! += r[yi]! * w[wi]!;
                dw[wi]! += r[yi]! * x[xi]!;
              }
          }
  // 2×2 stride-2 max pool of x (valid), gradient r2 to each window's maximum.
  const PH = Math.floor(H / 2), PW = Math.floor(W / 2);
  const dxPool = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let ph = 0; ph < PH; ph++)
      for (let pw = 0; pw < PW; pw++)
        for (let c = 0; c < CI; c++) {
          let best = -Infinity, at = -1;
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 2; j++) {
              const xi = ((b * H + ph * 2 + i) * W + pw * 2 + j) * CI + c;
              if (x[xi]! > best) { best = x[xi]!; at = xi; }
            }
          dxPool[at]! += 1 + c; // the pool's upstream gradient: 1 for channel 0, 2 for channel 1
        }
  return { y, dx, dw, dxPool };
}

function check(what: string, got: ArrayLike<number>, want: Float64Array): void {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    if (!Number.isFinite(g)) throw new Error(`${what}: got ${g} at ${i}`);
    diff = Math.max(diff, Math.abs(g - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  if (diff > 1e-3 * Math.max(1, scale)) throw new Error(`${what} is wrong (max error ${diff.toExponential(2)} on values up to ${scale.toFixed(2)})`);
}

/** Throws with what went wrong when the active backend computes a conv/pool or their gradients wrongly. */
export async function backendSelfTest(): Promise<void> {
  const xv = series(B * H * W * CI, 0.7, 0.1);
  const wv = series(K * K * CI * CO, 1.3, 0.5);
  const rv = series(B * OH * OW * CO, 0.9, 0.3);
  const want = reference(xv, wv, rv);
  const x = tf.tensor4d(xv, [B, H, W, CI]);
  const w = tf.tensor4d(wv, [K, K, CI, CO]);
  const r = tf.tensor4d(rv, [B, OH, OW, CO]);
  const poolWeights = tf.tensor1d([1, 2]);
  const [y, dx, dw, dxPool] = tf.tidy(() => {
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, S, 'same');
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    const gPool = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), poolWeights)))(x);
    return [conv(x, w), gx!, gw!, gPool];
  });
  try {
    check('conv2d', await y.data(), want.y);
    check('conv2d input gradient', await dx.data(), want.dx);
    check('conv2d filter gradient', await dw.data(), want.dw);
    check('max pool gradient', await dxPool.data(), want.dxPool);
  } finally {
    tf.dispose([x, w, r, poolWeights, y, dx, dw, dxPool]);
  }
}
