// Loupe's SIMD kernels (electron/core/training/kernels/simd.ts) on the real wasm backend: they load, the kernels
// registered for training run them for the shapes they take (and only those), and they compute bit for bit what
// the JS passes they stand in for compute (Object.is per value: NaN, ±0 and ±Infinity included), so a run gives
// the same weights whichever path its engine can take. The optimizers' kernels: fused-optimizers.test.ts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { loadSimdKernels, simdMultiplyAdd, unfusedText, type SimdKernels } from '../../electron/core/training/kernels/simd.ts';
import { maxPoolGrad, maxPoolGradJs } from '../../electron/core/training/kernels/max-pool-grad.ts';
import { reluBiasGrad, reluBiasGradJs } from '../../electron/core/training/kernels/relu-bias-kernels.ts';
import { batchNormGrad, batchNormGradJs, batchNormTrain, batchNormTrainJs } from '../../electron/core/training/kernels/batch-norm-kernels.ts';
import { RELU_GRAD } from '../../electron/core/training/kernels/relu-grad.ts';
import { addRelu, addReluJs } from '../../electron/core/training/kernels/add-relu.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { simdCalls } from '../helpers/simd-calls.ts';
import { combine, FILTER_GRADIENT_TRANSFORM, FILTER_TRANSFORM, GRADIENT_TRANSFORM, INPUT_TRANSFORM, OUTPUT_TRANSFORM } from '../../electron/core/training/kernels/winograd4.ts';
import { DIRECT_CASES, NOT_WINOGRAD_CASES, SIMD_FILTER_GRAD_CASES, WINOGRAD_CASES, type ConvCase } from '../helpers/conv-cases.ts';

interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(id: object): void;
}

before(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
  assert.equal(await loadSimdKernels(tf.backend()), null, 'the SIMD kernels load on the wasm backend');
});

const backend = () => tf.backend() as unknown as HeapBackend;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Values with the awkward ones sown in: NaN, ±Infinity, ±0, and ties (every 7th value repeats the one before). */
function awkward(n: number, seed: number): Float32Array {
  const v = seededValues(n, seed);
  const special = [NaN, Infinity, -Infinity, 0, -0];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 6) v[i] = v[i - 1]!;
    if (i % 23 === 11) v[i] = special[((i / 23) | 0) % special.length]!;
  }
  return v;
}

/** Reads a kernel's outputs (and frees them): their values, copied. */
function take(out: tf.TensorInfo | tf.TensorInfo[]): Float32Array[] {
  const outs = Array.isArray(out) ? out : [out];
  const values = outs.map((t) => backend().typedArrayFromHeap(t).slice());
  for (const t of outs) backend().disposeData(t.dataId);
  return values;
}

function assertBitEqual(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}: value ${i} is ${got[i]}, the JS kernel gives ${want[i]}`);
  }
}

const countCalls = (name: keyof SimdKernels, f: () => void) => simdCalls([name], f);

const bits = new DataView(new ArrayBuffer(8));

/**
 * float32 a·b + c rounded once, as an FMA instruction computes it: a·b is exact in float64; the sum is rounded to
 * odd there (TwoSum's error decides the last bit), and rounding that to float32 is then correct (53 ≥ 24 + 2 bits).
 */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const back = s - p;
  const err = p - (s - back) + (c - back);
  bits.setFloat64(0, s);
  const raw = bits.getBigUint64(0);
  if (err !== 0 && (raw & 1n) === 0n) {
    // One ulp toward the exact sum: away from zero when the error has s's sign.
    bits.setBigUint64(0, err > 0 === s > 0 ? raw + 1n : raw - 1n);
    return Math.fround(bits.getFloat64(0));
  }
  return Math.fround(s);
}

/** acc + a·b as the convolution kernels accumulate on this machine (simd.ts: fused where relaxed_madd fuses). */
function madd(a: number, b: number, acc: number): number {
  return simdMultiplyAdd() === 'fused' ? fmaf(a, b, acc) : Math.fround(acc + Math.fround(a * b));
}

const POOL_ATTRS = { filterSize: 2, strides: 2, pad: 'valid' } as unknown as tf.NamedAttrMap;

test('the max-pool gradient of a 2×2 pool that tiles its input is the JS kernel\'s, bit for bit', () => {
  // LeNet's two pools, a single window, channel counts that are not a multiple of four (the last vector overlaps).
  const shapes: [number, number, number, number][] = [[3, 28, 28, 6], [4, 10, 10, 16], [1, 2, 2, 4], [2, 6, 8, 5], [2, 4, 2, 7], [1, 8, 8, 9]];
  shapes.forEach((shape, k) => {
    tf.tidy(() => {
      const input = tf.tensor4d(awkward(size(shape), 10 + k), shape);
      const dyShape: [number, number, number, number] = [shape[0], shape[1] / 2, shape[2] / 2, shape[3]];
      const dy = tf.tensor4d(awkward(size(dyShape), 50 + k), dyShape);
      const args = { inputs: { dy, input }, backend: tf.backend(), attrs: POOL_ATTRS };
      let simd: Float32Array[] = [];
      assert.equal(countCalls('maxPoolGrad2x2', () => void (simd = take(maxPoolGrad(args)))), 1, `${shape}: the SIMD kernel ran`);
      assertBitEqual(simd[0]!, take(maxPoolGradJs(args))[0]!, `MaxPoolGrad ${shape}`);
    });
  });
});

test('a 2×2 window sends its gradient to its first maximum, in every lane; NaN and -Infinity are never picked', () => {
  // The windows of wasm-kernels.test.ts's single-channel case, in each of four channels (one SIMD vector).
  const n = -Infinity;
  const plane = [
    [3, 3, 1, 7],
    [1, 2, 7, 0],
    [NaN, 1, n, n],
    [0, 5, n, n],
  ].flat();
  const dx = tf.tidy(() => {
    const input = tf.tensor4d(plane.flatMap((v) => [v, v, v, v]), [1, 4, 4, 4]);
    const dy = tf.tensor4d([1, 2, 3, 4].flatMap((v) => [v, -v, v, -v]), [1, 2, 2, 4]);
    return take(maxPoolGrad({ inputs: { dy, input }, backend: tf.backend(), attrs: POOL_ATTRS }))[0]!;
  });
  const want = [
    [1, 0, 0, 2],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 3, 0, 0],
  ].flat();
  assert.deepEqual([...dx], want.flatMap((v) => [v, -v, v, -v].map((u) => u + 0)));
});

test('pools the SIMD kernel does not take run the JS pass: overlapping, padded, odd-sized, fewer than four channels', () => {
  const cases: { shape: [number, number, number, number]; attrs: object }[] = [
    { shape: [1, 6, 6, 4], attrs: { filterSize: 3, strides: 2, pad: 'valid' } },
    { shape: [1, 5, 5, 4], attrs: { filterSize: 2, strides: 2, pad: 'same' } },
    { shape: [1, 5, 4, 4], attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
    { shape: [1, 4, 4, 3], attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
  ];
  for (const c of cases) {
    tf.tidy(() => {
      const input = tf.tensor4d(seededValues(size(c.shape), 3), c.shape);
      const output = tf.maxPool(input, (c.attrs as { filterSize: number }).filterSize, (c.attrs as { strides: number }).strides, (c.attrs as { pad: 'valid' | 'same' }).pad);
      const dy = tf.onesLike(output);
      const args = { inputs: { dy, input }, backend: tf.backend(), attrs: c.attrs as tf.NamedAttrMap };
      let got: Float32Array[] = [];
      assert.equal(countCalls('maxPoolGrad2x2', () => void (got = take(maxPoolGrad(args)))), 0, `${JSON.stringify(c)}: JS pass`);
      assertBitEqual(got[0]!, take(maxPoolGradJs(args))[0]!, JSON.stringify(c));
    });
  }
});

test('a ReLU\'s gradient is one SIMD pass with tfjs\'s values, bit for bit: NaN, ±Infinity, ±0 and a tail past the last four', () => {
  // dy's awkward values shifted off x's, so that each meets plain ones; the last case has them in the scalar tail.
  const cases = [4 * 1000, 4 * 1000 + 3, 1].map((n) => [awkward(n, 31), awkward(n, 32).map((_, i, a) => a[(i + 5) % n]!)]);
  cases.push([new Float32Array([1, -1, 0, -0, NaN, Infinity, -Infinity]), new Float32Array([Infinity, -Infinity, Infinity, NaN, 2, 3, -Infinity])]);
  for (const [xv, dyv] of cases) {
    const n = xv!.length;
    tf.tidy(() => {
      const x = tf.tensor1d(xv!);
      const dy = tf.tensor1d(dyv!);
      // tfjs's own composition, which the gradient ran before (and runs on other backends).
      const want = tf.mul(dy, tf.cast(tf.step(x), 'float32')).dataSync() as Float32Array;
      let kernel: Float32Array = new Float32Array();
      let grad: Float32Array = new Float32Array();
      const calls = countCalls('reluGrad', () => {
        kernel = (tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor).dataSync() as Float32Array;
        grad = tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy).dataSync() as Float32Array;
      });
      assert.equal(calls, 2, 'the kernel, and the gradient of tf.relu through it');
      assertBitEqual(kernel, want, `relu gradient of ${n}`);
      assertBitEqual(grad, want, `tf.grad of relu, ${n}`);
    });
  }
});

test('the relu-bias gradient (masked gradient and per-channel bias sums) is the JS kernel\'s, bit for bit', () => {
  // Conv layers' NHWC activations and dense layers' rows; channel counts below, at and past a multiple of four.
  const shapes: number[][] = [[2, 28, 28, 6], [3, 10, 10, 16], [32, 120], [32, 84], [5, 3], [4, 1], [7, 9], [1, 4], [2, 3, 3, 13]];
  shapes.forEach((shape, k) => {
    tf.tidy(() => {
      const dy = tf.tensor(awkward(size(shape), 100 + k), shape);
      // y is a relu output (≥ 0, half of it 0), with a NaN or a -0 here and there.
      const raw = seededValues(size(shape), 200 + k);
      const yv = raw.map((v, i) => (i % 31 === 5 ? NaN : i % 37 === 3 ? -0 : Math.max(0, v)));
      const y = tf.tensor(yv, shape);
      const args = { inputs: { dy, y }, backend: tf.backend() };
      let simd: Float32Array[] = [];
      assert.equal(countCalls('reluBiasGrad', () => void (simd = take(reluBiasGrad(args)))), 1, `${shape}: the SIMD kernel ran`);
      const js = take(reluBiasGradJs(args));
      assertBitEqual(simd[0]!, js[0]!, `relu-bias g ${shape}`);
      assertBitEqual(simd[1]!, js[1]!, `relu-bias db ${shape}`);
    });
  });
});

test('the bias sums add in float64, rows in order: values a float32 sum would lose are kept', () => {
  // Per channel: 2^24, then 1 one hundred times. A float32 running sum stays at 2^24; float64 reaches 2^24 + 100.
  const rows = 101;
  const C = 5;
  const dyv = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) dyv[r * C + c] = r === 0 ? 2 ** 24 : 1;
  const db = tf.tidy(() => take(reluBiasGrad({ inputs: { dy: tf.tensor2d(dyv, [rows, C]), y: tf.ones([rows, C]) }, backend: tf.backend() }))[1]!);
  assert.deepEqual([...db], Array(C).fill(2 ** 24 + 100));
});

test('batch norm\'s training pass and gradient are the JS passes\' results, bit for bit, for any channel count', () => {
  // Channel counts at, below and past a multiple of four; activations far from zero (the shifted sums matter) and
  // near it; block boundaries crossed (8,192 / C rows a block, rounded down to whole runs of 64 rows: 576 for 13
  // channels, 320 for 24) and runs cut short at the end.
  const shapes: number[][] = [[2, 8, 8, 16], [3, 5, 5, 6], [4, 3, 3, 4], [7, 5], [100, 13], [2, 40, 40, 8], [9, 1], [700, 13], [2, 30, 30, 24]];
  shapes.forEach((shape, k) => {
    tf.tidy(() => {
      const C = shape[shape.length - 1]!;
      const n = size(shape);
      const x = tf.tensor(seededValues(n, 300 + k, 3, k % 2 ? 100 : 0), shape);
      const gamma = tf.tensor1d(seededValues(C, 400 + k, 1, 1));
      const beta = tf.tensor1d(seededValues(C, 500 + k));
      const train = { inputs: { x, gamma, beta }, backend: tf.backend(), attrs: { epsilon: 1e-5 } };
      let simd: Float32Array[] = [];
      let calls = countCalls('channelSums', () => void (simd = take(batchNormTrain(train))));
      const js = take(batchNormTrainJs(train));
      ['y', 'mean', 'variance'].forEach((what, i) => assertBitEqual(simd[i]!, js[i]!, `batch norm ${what} ${shape}`));
      const mean = tf.tensor1d(js[1]!);
      const variance = tf.tensor1d(js[2]!);
      const dy = tf.tensor(awkward(n, 600 + k).map((v) => (Number.isFinite(v) ? v : 0.5)), shape);
      const grad = { inputs: { dy, x, mean, variance, gamma }, backend: tf.backend(), attrs: { epsilon: 1e-5 } };
      calls += countCalls('channelAffine', () => void (simd = take(batchNormGrad(grad))));
      const jsGrad = take(batchNormGradJs(grad));
      ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertBitEqual(simd[i]!, jsGrad[i]!, `batch norm ${what} ${shape}`));
      assert.equal(calls, 2, `${shape}: the SIMD passes ran`);
    });
  });
});

test('batch norm with its ReLU fused: the SIMD and JS passes agree bit for bit, and give relu(y) and the gradient through it', () => {
  // dy·step(y) inside both passes, NaN kept where y is NaN; max(y, 0) (−0 becomes 0, as in tfjs's Relu).
  const shapes: number[][] = [[2, 8, 8, 16], [3, 5, 5, 6], [7, 5], [700, 13], [2, 30, 30, 24]];
  shapes.forEach((shape, k) => {
    tf.tidy(() => {
      const C = shape[shape.length - 1]!;
      const n = size(shape);
      const xv = seededValues(n, 700 + k, 3, k % 2 ? 100 : 0);
      xv[5] = NaN;
      const x = tf.tensor(xv, shape);
      const gamma = tf.tensor1d(seededValues(C, 800 + k, 1, 1));
      const beta = tf.tensor1d(seededValues(C, 900 + k));
      const plain = take(batchNormTrainJs({ inputs: { x, gamma, beta }, backend: tf.backend(), attrs: { epsilon: 1e-5 } }));
      const train = { inputs: { x, gamma, beta }, backend: tf.backend(), attrs: { epsilon: 1e-5, relu: true } };
      let simd: Float32Array[] = [];
      assert.equal(countCalls('channelAffine', () => void (simd = take(batchNormTrain(train)))), 1, `${shape}: the SIMD pass ran`);
      const js = take(batchNormTrainJs(train));
      ['y', 'mean', 'variance'].forEach((what, i) => assertBitEqual(simd[i]!, js[i]!, `fused batch norm ${what} ${shape}`));
      // NaN stays NaN, where tfjs's Relu on wasm gives 0 in its vector lanes (and NaN in its scalar tail): a NaN
      // reaches the loss and the NaN guard.
      assertBitEqual(simd[0]!, plain[0]!.map((v) => (Number.isNaN(v) ? NaN : v > 0 ? v : 0)), `relu(y) ${shape}`);
      assert.ok(simd[0]!.some((v) => Number.isNaN(v)), 'a channel with a NaN is NaN throughout');
      const y = tf.tensor(simd[0]!, shape);
      const mean = tf.tensor1d(js[1]!);
      const variance = tf.tensor1d(js[2]!);
      const dy = tf.tensor(awkward(n, 1000 + k).map((v) => (Number.isFinite(v) ? v : 0.25)), shape);
      const grad = { inputs: { dy, x, mean, variance, gamma, y }, backend: tf.backend(), attrs: { epsilon: 1e-5 } };
      assert.equal(countCalls('channelSums', () => void (simd = take(batchNormGrad(grad)))), 1, `${shape}: the SIMD pass ran`);
      const jsGrad = take(batchNormGradJs(grad));
      ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertBitEqual(simd[i]!, jsGrad[i]!, `fused batch norm ${what} ${shape}`));
      // What the two layers apart compute: the ReLU's gradient (LoupeReluGrad, of its input: the same steps), then
      // batch norm's.
      const throughRelu = tf.engine().runKernel(RELU_GRAD, { dy, x: tf.tensor(plain[0]!, shape) }) as tf.Tensor;
      const apart = take(batchNormGrad({ inputs: { dy: throughRelu, x, mean, variance, gamma }, backend: tf.backend(), attrs: { epsilon: 1e-5 } }));
      ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertBitEqual(simd[i]!, apart[i]!, `fused against apart ${what} ${shape}`));
    });
  });
});

test('a residual sum with its ReLU (LoupeAddRelu): the SIMD pass gives the JS pass\'s bits, and tfjs\'s Add then max(·, 0)', () => {
  // Lengths at, below and past a multiple of four; NaN, ±Infinity and ±0 among the values (∞ − ∞ is NaN).
  for (const n of [1, 3, 4, 7, 64, 1001]) {
    tf.tidy(() => {
      const a = tf.tensor1d(awkward(n, 40 + n));
      const b = tf.tensor1d(awkward(n, 50 + n).map((v, i) => (i % 5 === 0 ? -v : v)));
      let simd: Float32Array[] = [];
      const args = { inputs: { a, b }, backend: tf.backend() };
      assert.equal(countCalls('addRelu', () => void (simd = take(addRelu(args)))), 1, `${n}: the SIMD pass ran`);
      const sum = tf.add(a, b).dataSync() as Float32Array;
      assertBitEqual(simd[0]!, sum.map((v) => (Number.isNaN(v) ? NaN : v > 0 ? v : 0)), `add relu ${n}`);
      const js = take(addReluJs(args));
      assertBitEqual(simd[0]!, js[0]!, `add relu JS ${n}`);
    });
  }
});

test('the reversal of a 3-D tensor ([B, P, C] → [C, P, B]) moves every value where it belongs; small ones take tfjs\'s kernel', () => {
  // Whole 4×4 blocks, images and channels past the last four, a single position, a first stage's size.
  const simdShapes: [number, number, number][] = [[4, 3, 4], [5, 7, 6], [9, 2, 11], [8, 1, 12], [64, 100, 16]];
  const stockShapes: [number, number, number][] = [[64, 50, 1], [3, 5, 8], [6, 5, 2]];
  for (const shape of [...simdShapes, ...stockShapes]) {
    tf.tidy(() => {
      const [B, P, C] = shape;
      const values = awkward(B * P * C, B + P + C);
      const x = tf.tensor3d(values, shape);
      let got: Float32Array = new Float32Array();
      const calls = countCalls('transpose210', () => void (got = tf.transpose(x, [2, 1, 0]).dataSync() as Float32Array));
      assert.equal(calls, simdShapes.includes(shape) ? 1 : 0, `${shape}: ${simdShapes.includes(shape) ? 'SIMD' : "tfjs's kernel"}`);
      const want = new Float32Array(B * P * C);
      for (let b = 0; b < B; b++) for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) want[(c * P + p) * B + b] = values[(b * P + p) * C + c]!;
      assertBitEqual(got, want, `transpose ${shape}`);
      // Other permutations are tfjs's own.
      assert.equal(countCalls('transpose210', () => void tf.transpose(x, [1, 0, 2]).dataSync()), 0);
    });
  }
});

/**
 * The filter gradient as the SIMD kernel sums it: per weight, float32 products added in float32 in the order of
 * b, then oh, then ow, taps outside x skipped.
 */
function filterGradInOrder(x: Float32Array, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
  const dw = new Float32Array(KH * KW * Ci * Co);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * info.strideHeight + kh - info.padInfo.top;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < KW; kw++) {
          for (let ci = 0; ci < Ci; ci++) {
            for (let co = 0; co < Co; co++) {
              const k = ((kh * KW + kw) * Ci + ci) * Co + co;
              let acc = dw[k]!;
              for (let ow = 0; ow < OW; ow++) {
                const iw = ow * info.strideWidth + kw - info.padInfo.left;
                if (iw < 0 || iw >= W) continue;
                acc = madd(x[((b * H + ih) * W + iw) * Ci + ci]!, dy[((b * OH + oh) * OW + ow) * Co + co]!, acc);
              }
              dw[k] = acc;
            }
          }
        }
      }
    }
  }
  return dw;
}

test('the conv filter gradient sums in a fixed float32 order, bit for bit, for the convolutions it takes; others go to XNNPACK', () => {
  const simdCases = SIMD_FILTER_GRAD_CASES;
  // Output channels that padding to eight would more than half again (4, 3), a dilated filter.
  const otherCases: ConvCase[] = [
    { x: [2, 10, 10, 1], f: [5, 5, 1, 4], strides: 1, pad: 'same' },
    { x: [2, 7, 9, 4], f: [3, 3, 4, 3], strides: 1, pad: 'same' },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same', dilations: 2 },
  ];
  [...simdCases, ...otherCases].forEach((c, k) => {
    tf.tidy(() => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilations ?? 1, c.pad, undefined, false, 'channelsLast');
      // Plain values, so that a misplaced product shows (a NaN in a sum hides the rest of it); NaN, ±Infinity and
      // ±0 in the first case only.
      const values = k === 0 ? awkward : seededValues;
      const xv = values(size(c.x), 90 + k);
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
      const dyv = values(size(dyShape), 120 + k);
      const x = tf.tensor4d(xv, c.x);
      const dy = tf.tensor(dyv, dyShape);
      let got: Float32Array = new Float32Array();
      const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dataFormat: 'NHWC', filterShape: c.f } as unknown as tf.NamedAttrMap;
      // Fewer than four input channels run conv_filter_grad_few: the same sums, in the same order.
      const kernel = c.x[3] < 4 ? 'convFilterGradFew' : 'convFilterGrad';
      const calls = countCalls(kernel, () => void (got = (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor).dataSync() as Float32Array));
      const simd = simdCases.includes(c);
      assert.equal(calls, simd ? 1 : 0, `${JSON.stringify(c)}: ${simd ? kernel : 'XNNPACK'}`);
      if (simd) assertBitEqual(got, filterGradInOrder(xv, dyv, info), `filter gradient ${JSON.stringify(c)}`);
    });
  });
});

const f32 = Math.fround;

/**
 * Winograd's F(4×4, 3×3) as the kernels compute it (winograd4.ts's tables, each combination in its order, float32):
 * each 4×4 output tile in row-major order (b, th, tw), with B^T d B of its 6×6 input pixels d (along the rows, then
 * the columns), [36][Ci].
 */
function* winograd4Tiles(x: Float32Array, info: tf.backend_util.Conv2DInfo): Generator<{ b: number; th: number; tw: number; v: Float32Array }> {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = info;
  const pixel = (b: number, r: number, c: number, ci: number) => {
    const ih = r - info.padInfo.top;
    const iw = c - info.padInfo.left;
    return ih >= 0 && ih < H && iw >= 0 && iw < W ? x[((b * H + ih) * W + iw) * Ci + ci]! : 0;
  };
  for (let b = 0; b < B; b++) {
    for (let th = 0; th * 4 < OH; th++) {
      for (let tw = 0; tw * 4 < OW; tw++) {
        const v = new Float32Array(36 * Ci);
        for (let ci = 0; ci < Ci; ci++) {
          const t = INPUT_TRANSFORM.map((terms) => [0, 1, 2, 3, 4, 5].map((j) => combine(terms, (i) => pixel(b, 4 * th + i, 4 * tw + j, ci))));
          for (let k = 0; k < 6; k++) INPUT_TRANSFORM.forEach((terms, l) => (v[(6 * k + l) * Ci + ci] = combine(terms, (j) => t[k]![j]!)));
        }
        yield { b, th, tw, v };
      }
    }
  }
}

/** The forward pass: u = G g G^T (G along kh, then kw), the products summed over input channels in order, A^T m A (rows, then columns); then the bias and the relu. */
function winograd4InOrder(x: Float32Array, g: Float32Array, info: tf.backend_util.Conv2DInfo, bias?: Float32Array, relu = false): Float32Array {
  const { inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const n = Ci * Co;
  const u = new Float32Array(36 * n);
  for (let k = 0; k < n; k++) {
    const h = FILTER_TRANSFORM.map((terms) => [0, 1, 2].map((kw) => combine(terms, (kh) => g[(kh * 3 + kw) * n + k]!)));
    for (let r = 0; r < 6; r++) FILTER_TRANSFORM.forEach((terms, c) => (u[(r * 6 + c) * n + k] = combine(terms, (kw) => h[r]![kw]!)));
  }
  const y = new Float32Array(info.batchSize * OH * OW * Co);
  for (const { b, th, tw, v } of winograd4Tiles(x, info)) {
    for (let co = 0; co < Co; co++) {
      const m = new Float32Array(36);
      for (let xi = 0; xi < 36; xi++) {
        let acc = 0;
        for (let ci = 0; ci < Ci; ci++) acc = madd(v[xi * Ci + ci]!, u[xi * n + ci * Co + co]!, acc);
        m[xi] = acc;
      }
      const rows = OUTPUT_TRANSFORM.map((terms) => [0, 1, 2, 3, 4, 5].map((l) => combine(terms, (i) => m[6 * i + l]!)));
      for (let k = 0; k < 4; k++) {
        OUTPUT_TRANSFORM.forEach((terms, q) => {
          const oh = 4 * th + k;
          const ow = 4 * tw + q;
          const sum = combine(terms, (l) => rows[k]![l]!);
          const biased = bias ? f32(sum + bias[co]!) : sum;
          if (oh < OH && ow < OW) y[((b * OH + oh) * OW + ow) * Co + co] = relu ? Math.max(biased, 0) : biased;
        });
      }
    }
  }
  return y;
}

/**
 * The filter gradient: s = Σ over tiles in order of (B^T x B) ⊙ (A dy A^T), dy's 4×4 tile zero past the output's
 * edge and A along the rows, then the columns; then dw = G^T s G (rows, then columns).
 */
function winograd4FilterGradInOrder(x: Float32Array, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = info;
  const n = Ci * Co;
  const s = new Float32Array(36 * n);
  for (const { b, th, tw, v } of winograd4Tiles(x, info)) {
    const at = (i: number, j: number, co: number) => {
      const oh = 4 * th + i;
      const ow = 4 * tw + j;
      return oh < OH && ow < OW ? dy[((b * OH + oh) * OW + ow) * Co + co]! : 0;
    };
    for (let co = 0; co < Co; co++) {
      const t = GRADIENT_TRANSFORM.map((terms) => [0, 1, 2, 3].map((j) => combine(terms, (k) => at(k, j, co))));
      const w = t.flatMap((row) => GRADIENT_TRANSFORM.map((terms) => combine(terms, (j) => row[j]!)));
      for (let xi = 0; xi < 36; xi++) {
        for (let ci = 0; ci < Ci; ci++) {
          const k = xi * n + ci * Co + co;
          s[k] = madd(v[xi * Ci + ci]!, w[xi]!, s[k]!);
        }
      }
    }
  }
  const dw = new Float32Array(9 * n);
  for (let k = 0; k < n; k++) {
    const h = FILTER_GRADIENT_TRANSFORM.map((terms) => [0, 1, 2, 3, 4, 5].map((c) => combine(terms, (r) => s[(6 * r + c) * n + k]!)));
    for (let kh = 0; kh < 3; kh++) FILTER_GRADIENT_TRANSFORM.forEach((terms, kw) => (dw[(kh * 3 + kw) * n + k] = combine(terms, (c) => h[kh]![c]!)));
  }
  return dw;
}

test('3×3 stride-1 convolutions (plain or fused with a bias and relu) and their filter gradients run Winograd F(4×4, 3×3), float32 in a fixed order, bit for bit; others do not', () => {
  [...WINOGRAD_CASES, ...NOT_WINOGRAD_CASES].forEach((c, k) => {
    tf.tidy(() => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, c.dilations ?? 1, c.pad, undefined, false, 'channelsLast');
      // NaN, ±Infinity and ±0 in the first case only, so that a misplaced product shows in the others.
      const values = k === 0 ? awkward : seededValues;
      const xv = values(size(c.x), 150 + k);
      const fv = values(size(c.f), 170 + k);
      const x = tf.tensor4d(xv, c.x);
      const filter = tf.tensor4d(fv, c.f);
      const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
      let got: Float32Array = new Float32Array();
      const winograd = WINOGRAD_CASES.includes(c);
      const calls = countCalls('winogradF4x3', () => void (got = (tf.engine().runKernel('Conv2D', { x, filter }, attrs) as tf.Tensor).dataSync() as Float32Array));
      assert.equal(calls, winograd ? 1 : 0, `${JSON.stringify(c)}: ${winograd ? 'Winograd' : 'XNNPACK'}`);
      if (winograd) assertBitEqual(got, winograd4InOrder(xv, fv, info), `Winograd ${JSON.stringify(c)}`);
      // Fused with a bias and a relu (the custom CNN's layers), or a bias alone (folded batch norm); a leaky relu
      // goes to XNNPACK.
      const biasValues = values(c.f[3], 210 + k);
      const bias = tf.tensor1d(biasValues);
      for (const activation of ['relu', 'linear', 'leakyrelu']) {
        const fusedAttrs = { ...attrs, activation, leakyreluAlpha: 0.2 } as unknown as tf.NamedAttrMap;
        const fusedCalls = countCalls('winogradF4x3', () => void (got = (tf.engine().runKernel('FusedConv2D', { x, filter, bias }, fusedAttrs) as tf.Tensor).dataSync() as Float32Array));
        const taken = winograd && activation !== 'leakyrelu';
        assert.equal(fusedCalls, taken ? 1 : 0, `${JSON.stringify(c)} fused with ${activation}`);
        if (taken) assertBitEqual(got, winograd4InOrder(xv, fv, info, biasValues, activation === 'relu'), `Winograd with bias and ${activation} ${JSON.stringify(c)}`);
      }
      // The filter gradient: Winograd's kernels where they take the convolution, else the direct SIMD kernel.
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
      const dyv = values(size(dyShape), 190 + k);
      const dy = tf.tensor(dyv, dyShape);
      const gradAttrs = { ...attrs, filterShape: c.f } as unknown as tf.NamedAttrMap;
      const gradCalls = countCalls('winogradFilterGrad4', () => void (got = (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, gradAttrs) as tf.Tensor).dataSync() as Float32Array));
      assert.equal(gradCalls, winograd ? 1 : 0, `${JSON.stringify(c)}: filter gradient ${winograd ? 'Winograd' : 'direct'}`);
      if (winograd) assertBitEqual(got, winograd4FilterGradInOrder(xv, dyv, info), `Winograd filter gradient ${JSON.stringify(c)}`);
    });
  });
});

/** The multiply-add this machine should get: relaxed SIMD's, fused where the CPU has FMA, unless turned off. */
/**
 * The direct kernel's sums (direct-conv-wat.ts): outputs in blocks of four along each row; per output, from +0, the
 * products in the order kh (rows inside x), kw, ci, over the taps kw that reach x for some output of its block (a
 * tap in the padding multiplies a zero); then the bias and the relu.
 */
function directInOrder(x: Float32Array, w: Float32Array, info: tf.backend_util.Conv2DInfo, bias?: Float32Array, relu = false): Float32Array {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top: pt, left: pl } = info.padInfo;
  const y = new Float32Array(B * OH * OW * Co);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow0 = 0; ow0 < OW; ow0 += 4) {
        const n = Math.min(4, OW - ow0);
        const kwlo = Math.max(0, pl - (ow0 + n - 1) * sw);
        const kwhi = Math.min(KW, pl + W - ow0 * sw);
        for (let ow = ow0; ow < ow0 + n; ow++) {
          for (let co = 0; co < Co; co++) {
            let acc = 0;
            for (let kh = 0; kh < KH && kwlo < kwhi; kh++) {
              const ih = oh * sh + kh - pt;
              if (ih < 0 || ih >= H) continue;
              for (let kw = kwlo; kw < kwhi; kw++) {
                const iw = ow * sw + kw - pl;
                for (let ci = 0; ci < Ci; ci++) {
                  const xv = iw >= 0 && iw < W ? x[((b * H + ih) * W + iw) * Ci + ci]! : 0;
                  acc = madd(xv, w[((kh * KW + kw) * Ci + ci) * Co + co]!, acc);
                }
              }
            }
            if (bias) acc = f32(acc + bias[co]!);
            if (relu) acc = Math.max(acc, 0);
            y[((b * OH + oh) * OW + ow) * Co + co] = acc;
          }
        }
      }
    }
  }
  return y;
}

/** w [kh, kw, ci, co] rotated 180° with its channel axes swapped: [kh, kw, co, ci], the input gradient's filter. */
function rotated(w: Float32Array, [KH, KW, Ci, Co]: readonly number[]): Float32Array {
  const r = new Float32Array(w.length);
  for (let kh = 0; kh < KH!; kh++)
    for (let kw = 0; kw < KW!; kw++)
      for (let ci = 0; ci < Ci!; ci++)
        for (let co = 0; co < Co!; co++) r[(((KH! - 1 - kh) * KW! + (KW! - 1 - kw)) * Co! + co) * Ci! + ci] = w[((kh * KW! + kw) * Ci! + ci) * Co! + co]!;
  return r;
}

test('the direct kernel sums in a fixed float32 order, bit for bit: forward, fused with a bias and a relu, and stride-1 input gradients', () => {
  DIRECT_CASES.forEach((c, k) => {
    tf.tidy(() => {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, 1, c.pad, undefined, false, 'channelsLast');
      const values = k === 1 ? awkward : seededValues;
      const xv = values(size(c.x), 210 + k);
      const fv = values(size(c.f), 230 + k);
      const bv = seededValues(c.f[3], 250 + k);
      const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dataFormat: 'NHWC' };
      const label = JSON.stringify(c);
      const run = (name: string, inputs: Record<string, tf.Tensor>, a: object) => {
        let out: Float32Array = new Float32Array();
        const calls = countCalls('convDirect', () => void (out = (tf.engine().runKernel(name, inputs, a as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array));
        assert.equal(calls, 1, `${label}: ${name} runs the direct kernel`);
        return out;
      };
      const x = tf.tensor4d(xv, c.x);
      const filter = tf.tensor4d(fv, c.f);
      assertBitEqual(run('Conv2D', { x, filter }, attrs), directInOrder(xv, fv, info), `forward ${label}`);
      const fused = run('FusedConv2D', { x, filter, bias: tf.tensor1d(bv) }, { ...attrs, activation: 'relu' });
      assertBitEqual(fused, directInOrder(xv, fv, info, bv, true), `fused ${label}`);
      // Stride 1 with the forward's padding no wider than the filter: dx is one convolution of dy with the rotated
      // filter, padded by the filter's size - 1 - the forward's padding on each side.
      const p = info.padInfo;
      const grows = [p.top, p.bottom, p.left, p.right].every((q, i) => q <= (i < 2 ? c.f[0] : c.f[1]) - 1);
      if (c.strides !== 1 || c.f[3] > 16 || !grows) return;
      const dyShape: [number, number, number, number] = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
      const dyv = seededValues(size(dyShape), 270 + k);
      const gradPad = [[0, 0], [c.f[0] - 1 - p.top, c.f[0] - 1 - p.bottom], [c.f[1] - 1 - p.left, c.f[1] - 1 - p.right], [0, 0]] as const;
      const gradInfo = tf.backend_util.computeConv2DInfo(dyShape, [c.f[0], c.f[1], c.f[3], c.f[2]], 1, 1, gradPad as never, undefined, false, 'channelsLast');
      const dx = run('Conv2DBackpropInput', { dy: tf.tensor4d(dyv, dyShape), filter }, { ...attrs, inputShape: c.x });
      assertBitEqual(dx, directInOrder(dyv, rotated(fv, c.f), gradInfo), `input gradient ${label}`);
    });
  });
});

function expectedMultiplyAdd(): string {
  if (process.env['LOUPE_WASM_FMA'] === '0') return 'plain';
  const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.split(/\s+/) ?? [];
  return flags.includes('fma') ? 'fused' : 'unfused';
}

test('the convolution kernels multiply-add with relaxed SIMD, fused where the CPU has FMA; LOUPE_WASM_FMA=0 assembles plain SIMD', () => {
  assert.equal(simdMultiplyAdd(), expectedMultiplyAdd());
});

test('plain SIMD writes each relaxed_madd as the add of a rounded product, operands kept whole', () => {
  const text = '(local.set $a (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $p)) (local.get $a)))';
  assert.equal(unfusedText(text), '(local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $p)))))');
  assert.throws(() => unfusedText('(f32x4.relaxed_madd (local.get $a) $b (local.get $c))'), /not an expression/);
  assert.throws(() => unfusedText('(f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $c) (local.get $d))'), /more than three/);
});

test('with LOUPE_WASM_FMA=0 the kernels assemble as plain SIMD and the convolutions keep their two-rounding sums, bit for bit', { skip: process.env['LOUPE_WASM_FMA'] === '0' }, () => {
  // The three convolution tests above, and the mode's, in a process of their own: the text is assembled once a process.
  const pattern = 'multiply-add with relaxed SIMD|conv filter gradient sums|run Winograd F|direct kernel sums';
  // Without the runner's NODE_TEST_CONTEXT the child reports in TAP on its stdout, not to this runner.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const args = ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-name-pattern', pattern, fileURLToPath(import.meta.url)];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...env, LOUPE_WASM_FMA: '0' } });
  assert.equal(child.status, 0, child.stdout + child.stderr);
  assert.match(child.stdout, /^# pass 4$/m, child.stdout);
});
