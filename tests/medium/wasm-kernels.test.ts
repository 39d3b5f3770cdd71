// The wasm backend's training kernels (electron/core/training/kernels): every registered kernel checked against
// finite-difference gradients of the forward op (computed on the cpu backend) and against the cpu backend's own
// kernel, over stride / padding / dilation / batch / channel variants; no leaks; and whole models (tf.layers)
// whose gradients match the cpu backend and whose loss falls when fitted on wasm.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadSimdKernels } from '../../electron/core/training/kernels/simd.ts';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from '../../electron/core/training/kernels/index.ts';
import { seededValues } from '../helpers/seeded-values.ts';
import { DIRECT_CASES, SIMD_FILTER_GRAD_CASES, WINOGRAD_CASES, type ConvCase, type Shape4 } from '../helpers/conv-cases.ts';
import { simdCalls } from '../helpers/simd-calls.ts';

interface Case extends ConvCase {
  /** The cpu kernels ignore dilation (their loops never read it), so dilated cases check numerically only. */
  cpu?: boolean;
}

const TOLERANCE = 1e-4;

before(async () => {
  tf.env().set('PROD', true); // keeps the cpu backend's "running in Node.js" banner out of test output
  registerWasmTrainingKernels();
  assert.ok(await tf.setBackend('wasm'));
  // The kernels as training runs them: the SIMD ones where they apply (simd-kernels.test.ts holds them to the JS ones).
  assert.equal(await loadSimdKernels(tf.backend()), null);
});

const values = seededValues;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

async function onBackend<T>(name: string, f: () => T): Promise<T> {
  const prev = tf.getBackend();
  await tf.setBackend(name);
  try {
    return f();
  } finally {
    await tf.setBackend(prev);
  }
}

/** Runs a kernel on a backend from plain arrays and returns its output values. */
function runKernel(backend: string, kernel: string, inputs: Record<string, readonly [Float32Array, readonly number[]]>, attrs: object): Promise<Float32Array> {
  return onBackend(backend, () => {
    const ts = Object.fromEntries(Object.entries(inputs).map(([k, [v, s]]) => [k, tf.tensor(v, [...s])]));
    const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
    const data = out.dataSync() as Float32Array;
    tf.dispose([out, ...Object.values(ts)]);
    return data;
  });
}

function relativeError(got: Float32Array, want: Float64Array | Float32Array): number {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  assert.ok(scale > 0, 'reference gradient is all zeros: the case tests nothing');
  return diff / scale;
}

/**
 * Finite differences of L(x, w) = Σ forward(x, w) ⊙ dy, computed on the cpu backend in float64 sums. L is linear
 * in each argument, so a central difference with a step of 1 has no truncation error, only float32 rounding.
 */
function numericGradient(forward: string, c: Case, dyShape: number[], wrt: 'x' | 'filter', xv: Float32Array, fv: Float32Array, dyv: Float32Array): Promise<Float64Array> {
  return onBackend('cpu', () => {
    const dy = Array.from(dyv);
    const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    const loss = (xa: Float32Array, fa: Float32Array) =>
      tf.tidy(() => {
        const y = tf.engine().runKernel(forward, { x: tf.tensor(xa, c.x), filter: tf.tensor(fa, c.f) }, attrs) as tf.Tensor;
        assert.deepEqual(y.shape, dyShape);
        const yv = y.dataSync();
        let sum = 0;
        for (let i = 0; i < yv.length; i++) sum += yv[i]! * dy[i]!;
        return sum;
      });
    const base = wrt === 'x' ? xv : fv;
    const grad = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = base.slice();
      const minus = base.slice();
      plus[i]! += 1;
      minus[i]! -= 1;
      grad[i] = wrt === 'x' ? (loss(plus, fv) - loss(minus, fv)) / 2 : (loss(xv, plus) - loss(xv, minus)) / 2;
    }
    return grad;
  });
}

function outputShape(forward: string, c: Case): Promise<number[]> {
  return onBackend('cpu', () =>
    tf.tidy(() => (tf.engine().runKernel(forward, { x: tf.zeros(c.x), filter: tf.zeros(c.f) }, { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor).shape),
  );
}

async function checkCase(kind: 'conv' | 'depthwise', c: Case): Promise<number> {
  const forward = kind === 'conv' ? 'Conv2D' : 'DepthwiseConv2dNative';
  const filterKernel = kind === 'conv' ? 'Conv2DBackpropFilter' : 'DepthwiseConv2dNativeBackpropFilter';
  const inputKernel = kind === 'conv' ? 'Conv2DBackpropInput' : 'DepthwiseConv2dNativeBackpropInput';
  const dyShape = await outputShape(forward, c);
  const xv = values(size(c.x), 1);
  const fv = values(size(c.f), 2);
  const dyv = values(size(dyShape), 3);
  const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilations ?? 1 };
  const dw = await runKernel('wasm', filterKernel, { x: [xv, c.x], dy: [dyv, dyShape] }, { ...common, filterShape: c.f });
  const dx = await runKernel('wasm', inputKernel, { dy: [dyv, dyShape], filter: [fv, c.f] }, { ...common, inputShape: c.x });
  const errors = {
    filter: relativeError(dw, await numericGradient(forward, c, dyShape, 'filter', xv, fv, dyv)),
    input: relativeError(dx, await numericGradient(forward, c, dyShape, 'x', xv, fv, dyv)),
  };
  const label = JSON.stringify(c);
  assert.ok(errors.filter < TOLERANCE, `${filterKernel} vs numeric ${label}: ${errors.filter}`);
  assert.ok(errors.input < TOLERANCE, `${inputKernel} vs numeric ${label}: ${errors.input}`);
  if (c.cpu !== false) {
    const cw = relativeError(dw, await runKernel('cpu', filterKernel, { x: [xv, c.x], dy: [dyv, dyShape] }, { ...common, filterShape: c.f }));
    const cx = relativeError(dx, await runKernel('cpu', inputKernel, { dy: [dyv, dyShape], filter: [fv, c.f] }, { ...common, inputShape: c.x }));
    assert.ok(cw < TOLERANCE, `${filterKernel} vs cpu ${label}: ${cw}`);
    assert.ok(cx < TOLERANCE, `${inputKernel} vs cpu ${label}: ${cx}`);
    return Math.max(errors.filter, errors.input, cw, cx);
  }
  return Math.max(errors.filter, errors.input);
}

const convCases: Case[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' }, // odd input: pads split 1/1
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' }, // even input: pad only after (0/1)
  { x: [1, 6, 5, 1], f: [2, 2, 1, 1], strides: 1, pad: 'same' }, // even kernel: asymmetric pads, batch 1
  { x: [3, 9, 7, 2], f: [5, 5, 2, 3], strides: 1, pad: 'valid' },
  { x: [3, 9, 7, 2], f: [5, 4, 2, 3], strides: [2, 1], pad: 'valid' },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 5], strides: 2, pad: 'valid' }, // ResNet's 1×1 stride-2 projection
  { x: [2, 7, 7, 3], f: [3, 2, 3, 2], strides: 3, pad: 1 },
  { x: [2, 7, 8, 2], f: [3, 3, 2, 3], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 1, pad: 'same', dilations: 2, cpu: false },
  { x: [2, 10, 9, 2], f: [3, 2, 2, 3], strides: 1, pad: 'valid', dilations: 2, cpu: false },
  // Stride above 1: the input gradient runs per phase (input-grad.ts). Phases of 3 and 2 taps, asymmetric pads:
  { x: [2, 9, 10, 2], f: [5, 4, 2, 3], strides: 2, pad: 'same' },
  // one live phase in three along each axis (interleaved by padding), and one input row:
  { x: [1, 7, 8, 3], f: [1, 1, 3, 2], strides: 3, pad: 'valid' },
  { x: [2, 1, 6, 2], f: [1, 3, 2, 2], strides: 2, pad: 'same' },
  // stride and dilation together (only the kernel takes both): s − 1 zeros between dy's samples instead
  { x: [2, 11, 10, 2], f: [3, 3, 2, 2], strides: 2, pad: 'same', dilations: 2, cpu: false },
  // Output channels a multiple of 8: the filter gradient is the SIMD kernel (simd.ts).
  ...SIMD_FILTER_GRAD_CASES,
  { x: [2, 6, 6, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same', dilations: 2, cpu: false },
  // Winograd (winograd.ts): the first case's forward convolution and input gradient both run it, the second's input
  // gradient only (its rotated filter is [3, 3, 4, 8]).
  { x: [2, 7, 9, 8], f: [3, 3, 8, 8], strides: 1, pad: 'same' },
  { x: [1, 6, 5, 8], f: [3, 3, 8, 4], strides: 1, pad: 'valid' },
];

const depthwiseCases: Case[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' }, // channel multiplier 2
  { x: [2, 7, 9, 3], f: [3, 3, 3, 1], strides: 2, pad: 'same' },
  { x: [2, 8, 8, 4], f: [3, 3, 4, 1], strides: 2, pad: 'same' },
  { x: [1, 9, 7, 2], f: [5, 5, 2, 3], strides: 1, pad: 'valid' },
  { x: [3, 9, 8, 2], f: [3, 3, 2, 2], strides: 2, pad: 'valid' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 1], strides: 1, pad: 'same', dilations: 2, cpu: false },
  { x: [2, 9, 10, 2], f: [3, 3, 2, 2], strides: 1, pad: 'valid', dilations: 2, cpu: false },
  { x: [2, 9, 8, 2], f: [5, 5, 2, 2], strides: 2, pad: 'same' },
  { x: [1, 7, 7, 2], f: [1, 1, 2, 1], strides: 3, pad: 'valid' },
];

test('registers the training kernels for wasm, idempotently', () => {
  const first = registerWasmTrainingKernels().sort();
  assert.deepEqual(first, ['BatchMatMul', 'Cast', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'FusedConv2D', 'Identity', 'LoupeAddRelu', 'LoupeBatchNormGrad', 'LoupeBatchNormTrain', 'LoupeReluBiasGrad', 'LoupeReluGrad', 'MaxPoolGrad', 'Transpose', '_FusedMatMul']);
  const funcs = first.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
  assert.deepEqual(registerWasmTrainingKernels().sort(), first);
  assert.deepEqual(first.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc), funcs);
  assert.deepEqual([...WASM_TRAINING_KERNELS].sort(), first);
});

test('Conv2DBackpropFilter / Conv2DBackpropInput match finite differences and the cpu kernels', async (t) => {
  let worst = 0;
  for (const c of convCases) worst = Math.max(worst, await checkCase('conv', c));
  t.diagnostic(`worst relative error over ${convCases.length} cases: ${worst.toExponential(2)}`);
});

test('Conv2D, FusedConv2D and Conv2DBackpropFilter by Winograd match the cpu kernels for the 3×3 stride-1 convolutions they take', async (t) => {
  let worst = 0;
  for (const [k, c] of WINOGRAD_CASES.entries()) {
    const xv = values(size(c.x), 40 + k);
    const fv = values(size(c.f), 60 + k);
    const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dataFormat: 'NHWC' };
    let got: Float32Array = new Float32Array();
    // On the current backend (wasm), synchronously, so that the calls are counted.
    const calls = simdCalls(['winogradF4x3'], () => {
      got = tf.tidy(() => (tf.engine().runKernel('Conv2D', { x: tf.tensor(xv, c.x), filter: tf.tensor(fv, c.f) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
    });
    assert.equal(calls, 1, `${JSON.stringify(c)} runs Winograd`);
    const error = relativeError(got, await runKernel('cpu', 'Conv2D', { x: [xv, c.x], filter: [fv, c.f] }, attrs));
    // Winograd's transforms add and scale before the products: a few 1e-6 relative on these sizes (F(4×4, 3×3)),
    // 2e-7 directly.
    assert.ok(error < 1e-5, `${JSON.stringify(c)}: relative error ${error}`);
    // Fused with a bias and a relu, as the custom CNN's layers and inference graphs run it.
    const bv = values(c.f[3], 70 + k);
    const fusedAttrs = { ...attrs, activation: 'relu' };
    const fused = await runKernel('wasm', 'FusedConv2D', { x: [xv, c.x], filter: [fv, c.f], bias: [bv, [c.f[3]]] }, fusedAttrs);
    const fusedError = relativeError(fused, await runKernel('cpu', 'FusedConv2D', { x: [xv, c.x], filter: [fv, c.f], bias: [bv, [c.f[3]]] }, fusedAttrs));
    assert.ok(fusedError < 1e-5, `${JSON.stringify(c)}: fused relative error ${fusedError}`);
    // The filter gradient (small cases: finite differences in the test above).
    const dyShape = await outputShape('Conv2D', c);
    const dyv = values(size(dyShape), 80 + k);
    const gradAttrs = { ...attrs, filterShape: c.f };
    let dw: Float32Array = new Float32Array();
    const gradCalls = simdCalls(['winogradFilterGrad4'], () => {
      dw = tf.tidy(() => (tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, dyShape) }, gradAttrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
    });
    assert.equal(gradCalls, 1, `${JSON.stringify(c)}: the filter gradient runs Winograd`);
    const gradError = relativeError(dw, await runKernel('cpu', 'Conv2DBackpropFilter', { x: [xv, c.x], dy: [dyv, dyShape] }, gradAttrs));
    assert.ok(gradError < 1e-5, `${JSON.stringify(c)}: filter gradient relative error ${gradError}`);
    worst = Math.max(worst, error, fusedError, gradError);
  }
  t.diagnostic(`worst relative error over ${WINOGRAD_CASES.length} cases: ${worst.toExponential(2)}`);
});

test('Conv2D, FusedConv2D and stride-1 input gradients by the direct kernel match the cpu kernels for the convolutions it takes', async (t) => {
  let worst = 0;
  for (const [k, c] of DIRECT_CASES.entries()) {
    const xv = values(size(c.x), 140 + k);
    const fv = values(size(c.f), 160 + k);
    const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dataFormat: 'NHWC' };
    const label = JSON.stringify(c);
    let got: Float32Array = new Float32Array();
    const calls = simdCalls(['convDirect'], () => {
      got = tf.tidy(() => (tf.engine().runKernel('Conv2D', { x: tf.tensor(xv, c.x), filter: tf.tensor(fv, c.f) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
    });
    assert.equal(calls, 1, `${label} runs the direct kernel`);
    const error = relativeError(got, await runKernel('cpu', 'Conv2D', { x: [xv, c.x], filter: [fv, c.f] }, attrs));
    const bv = values(c.f[3], 180 + k);
    const fusedAttrs = { ...attrs, activation: 'relu' };
    const fusedInputs = { x: [xv, c.x], filter: [fv, c.f], bias: [bv, [c.f[3]]] } as const;
    const fusedError = relativeError(await runKernel('wasm', 'FusedConv2D', fusedInputs, fusedAttrs), await runKernel('cpu', 'FusedConv2D', fusedInputs, fusedAttrs));
    // The input gradient: dy with the rotated filter, whose input channels are the forward's outputs.
    const dyShape = await outputShape('Conv2D', c);
    const dyv = values(size(dyShape), 200 + k);
    const gradAttrs = { ...attrs, inputShape: c.x };
    let dx: Float32Array = new Float32Array();
    const gradCalls = simdCalls(['convDirect'], () => {
      dx = tf.tidy(() => (tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(fv, c.f) }, gradAttrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array);
    });
    if (c.strides === 1 && c.f[3] <= 16) assert.equal(gradCalls, 1, `${label}: the input gradient runs the direct kernel`);
    const gradError = relativeError(dx, await runKernel('cpu', 'Conv2DBackpropInput', { dy: [dyv, dyShape], filter: [fv, c.f] }, gradAttrs));
    for (const [what, e] of [['forward', error], ['fused', fusedError], ['input gradient', gradError]] as const) {
      // The direct sums are the cpu kernel's products in another float32 order: ~1e-7 relative.
      assert.ok(e < 1e-5, `${label}: ${what} relative error ${e}`);
    }
    worst = Math.max(worst, error, fusedError, gradError);
  }
  t.diagnostic(`worst relative error over ${DIRECT_CASES.length} cases: ${worst.toExponential(2)}`);
});

test('a strided input gradient puts each phase with taps in place in one SIMD pass; stride 1 copies nothing', () => {
  const cases: [ConvCase, number][] = [
    [{ x: [2, 9, 8, 4], f: [3, 3, 4, 8], strides: 2, pad: 'same' }, 4], // four phases, the last row and column cut
    [{ x: [2, 8, 8, 4], f: [1, 1, 4, 8], strides: 2, pad: 'valid' }, 1], // the projection: one phase, zeros elsewhere
    [{ x: [2, 9, 7, 3], f: [3, 2, 3, 2], strides: 3, pad: 1 }, 6], // 3 × 3 phases, three without taps
    [{ x: [2, 8, 8, 4], f: [3, 3, 4, 8], strides: 1, pad: 'same' }, 0],
  ];
  for (const [c, phases] of cases) {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, 1, c.pad, undefined, false, 'channelsLast');
    const dyShape = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap;
    const calls = simdCalls(['scatterPhase'], () =>
      tf.tidy(() => void tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(values(size(dyShape), 5), dyShape), filter: tf.tensor(values(size(c.f), 6), c.f) }, attrs)),
    );
    assert.equal(calls, phases, `${JSON.stringify(c)}: phases put in place`);
  }
});

test('DepthwiseConv2dNativeBackpropFilter / Input match finite differences and the cpu kernels', async (t) => {
  let worst = 0;
  for (const c of depthwiseCases) worst = Math.max(worst, await checkCase('depthwise', c));
  t.diagnostic(`worst relative error over ${depthwiseCases.length} cases: ${worst.toExponential(2)}`);
});

test('MaxPoolGrad matches finite differences and the cpu kernel, negative windows and overlaps included', async (t) => {
  // The stock wasm MaxPoolGrad sends an all-negative window's gradient to the wrong element (it does on
  // tfjs-backend-wasm 4.22: [-3, -1, -2, -4] → gradient on -3); ours must not.
  const cases: { x: Shape4; filterSize: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' }[] = [
    { x: [2, 8, 8, 3], filterSize: 2, strides: 2, pad: 'valid' },
    { x: [2, 7, 9, 3], filterSize: 2, strides: 2, pad: 'same' },
    { x: [2, 7, 9, 3], filterSize: 2, strides: 2, pad: 'valid' }, // the last row and column in no window
    { x: [1, 9, 9, 2], filterSize: 3, strides: 2, pad: 'same' }, // overlapping windows
    { x: [3, 7, 6, 4], filterSize: [3, 2], strides: [1, 2], pad: 'valid' },
  ];
  let worst = 0;
  for (const c of cases) {
    const n = size(c.x);
    // Distinct values on a 1/8 grid, half of them negative; x ± 1/32 stays exact in float32 and never reorders.
    const order = Array.from(values(n, 12), (v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
    const xv = new Float32Array(n);
    order.forEach(([, i], rank) => (xv[i] = (rank - n / 2) / 8));
    const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
    const outShape = await onBackend('cpu', () => tf.tidy(() => tf.maxPool(tf.tensor4d(xv, c.x), c.filterSize, c.strides, c.pad).shape));
    const dyv = values(size(outShape), 13);
    const grad = (backend: string) =>
      onBackend(backend, () =>
        tf.tidy(() => {
          const x = tf.tensor4d(xv, c.x);
          const y = tf.maxPool(x, c.filterSize, c.strides, c.pad);
          return (tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor(dyv, outShape), input: x, output: y }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync() as Float32Array;
        }),
      );
    const numeric = await onBackend('cpu', () => {
      const loss = (xa: Float32Array) => tf.tidy(() => (tf.maxPool(tf.tensor4d(xa, c.x), c.filterSize, c.strides, c.pad).dataSync() as Float32Array).reduce((acc, v, i) => acc + v * dyv[i]!, 0));
      const h = 1 / 32;
      return Float64Array.from(xv, (_, i) => {
        const plus = xv.slice();
        const minus = xv.slice();
        plus[i]! += h;
        minus[i]! -= h;
        return (loss(plus) - loss(minus)) / (2 * h);
      });
    });
    const wasm = await grad('wasm');
    const errNumeric = relativeError(wasm, numeric);
    const errCpu = relativeError(wasm, await grad('cpu'));
    assert.ok(errNumeric < TOLERANCE && errCpu < TOLERANCE, `MaxPoolGrad ${JSON.stringify(c)}: numeric ${errNumeric}, cpu ${errCpu}`);
    worst = Math.max(worst, errNumeric, errCpu);
  }
  t.diagnostic(`worst relative error over ${cases.length} cases: ${worst.toExponential(2)}`);
});

test('MaxPoolGrad sends a 2×2 window\'s gradient to its first maximum; NaN and -Infinity are never picked', async () => {
  // One image, one channel, four 2×2 windows: ties within a row, ties across rows, a NaN beside the maximum,
  // -Infinity only. The gradient of each window is 1, 2, 3, 4.
  const n = -Infinity;
  const x = [
    [3, 3, 1, 7],
    [1, 2, 7, 0],
    [NaN, 1, n, n],
    [0, 5, n, n],
  ].flat();
  const dx = await onBackend('wasm', () =>
    tf.tidy(() => {
      const input = tf.tensor4d(x, [1, 4, 4, 1]);
      const output = tf.tensor4d([3, 7, 5, n], [1, 2, 2, 1]);
      const dy = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      return [...(tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, { filterSize: 2, strides: 2, pad: 'valid' } as unknown as tf.NamedAttrMap) as tf.Tensor).dataSync()];
    }),
  );
  assert.deepEqual(dx, [
    [1, 0, 0, 2],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 3, 0, 0],
  ].flat());
});

test('BatchMatMul / _FusedMatMul with transpose flags match the cpu backend', async () => {
  const combos: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [5, 7], b: [5, 3], ta: true, tb: false },
    { a: [5, 7], b: [3, 7], ta: false, tb: true },
    { a: [7, 5], b: [3, 7], ta: true, tb: true },
    { a: [2, 4, 6], b: [2, 4, 3], ta: true, tb: false },
    { a: [2, 6, 4], b: [1, 3, 4], ta: false, tb: true }, // broadcast batch
  ];
  for (const c of combos) {
    const av = values(size(c.a), 14);
    const bv = values(size(c.b), 15);
    const attrs = { transposeA: c.ta, transposeB: c.tb };
    const plain = await runKernel('wasm', 'BatchMatMul', { a: [av, c.a], b: [bv, c.b] }, attrs);
    const err = relativeError(plain, await runKernel('cpu', 'BatchMatMul', { a: [av, c.a], b: [bv, c.b] }, attrs));
    assert.ok(err < TOLERANCE, `BatchMatMul ${JSON.stringify(c)}: ${err}`);
    const fused = await onBackend('wasm', () =>
      tf.tidy(() => tf.fused.matMul({ a: tf.tensor(av, c.a), b: tf.tensor(bv, c.b), transposeA: c.ta, transposeB: c.tb, activation: 'relu' }).dataSync() as Float32Array),
    );
    assert.ok(relativeError(fused, plain.map((v) => Math.max(0, v))) < TOLERANCE, `_FusedMatMul ${JSON.stringify(c)}`);
  }
});

test('NCHW data format is handled by transposing around the NHWC convolutions', async () => {
  const x: Shape4 = [2, 3, 7, 6]; // N C H W
  const f: Shape4 = [3, 3, 3, 4];
  const dyShape = [2, 4, 4, 3]; // stride 2, same
  const [xv, fv, dyv] = [values(size(x), 4), values(size(f), 5), values(size(dyShape), 6)];
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
  for (const [kernel, inputs, extra] of [
    ['Conv2DBackpropFilter', { x: [xv, x], dy: [dyv, dyShape] }, { filterShape: f }],
    ['Conv2DBackpropInput', { dy: [dyv, dyShape], filter: [fv, f] }, { inputShape: x }],
  ] as const) {
    const err = relativeError(await runKernel('wasm', kernel, inputs, { ...attrs, ...extra }), await runKernel('cpu', kernel, inputs, { ...attrs, ...extra }));
    assert.ok(err < TOLERANCE, `${kernel} NCHW: ${err}`);
  }
});

test('Identity shares the data of its input (no copy per tensor a gradient keeps), which outlives either tensor', () => {
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const buffers = tf.memory().numDataBuffers;
  const dataIds = tf.engine().backend.numDataIds();
  const y = tf.clone(x);
  assert.equal(tf.memory().numDataBuffers, buffers, 'no new buffer');
  assert.equal(tf.engine().backend.numDataIds(), dataIds);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4], 'the clone keeps the data after its source is gone');
  const z = tf.add(y, 1);
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4], 'and nothing written after it changes it');
  y.dispose();
  assert.deepEqual(Array.from(z.dataSync()), [2, 3, 4, 5]);
  z.dispose();
  assert.equal(tf.engine().backend.numDataIds(), dataIds - 1, 'the shared buffer is freed with its last tensor');
  const s = tf.tensor(['a', 'b']);
  const sc = tf.clone(s);
  assert.deepEqual(sc.dataSync(), ['a', 'b'], 'strings still copied by the stock kernel');
  tf.dispose([s, sc]);
});

test("a Cast to the type a tensor already has (Identity's gradient) shares its data; other casts still convert", () => {
  const x = tf.tensor([1.5, -2.25, 3, 0], [2, 2]);
  const buffers = tf.memory().numDataBuffers;
  const same = tf.cast(x, 'float32');
  assert.equal(tf.memory().numDataBuffers, buffers, 'no new buffer');
  x.dispose();
  assert.deepEqual(Array.from(same.dataSync()), [1.5, -2.25, 3, 0], 'the cast keeps the data after its source is gone');
  const ints = tf.cast(same, 'int32');
  assert.equal(tf.memory().numDataBuffers, buffers + 1, 'a conversion has a buffer of its own');
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(Array.from(ints.dataSync()), [1, -2, 3, 0]);
  const back = tf.cast(ints, 'float32');
  assert.deepEqual(Array.from(back.dataSync()), [1, -2, 3, 0]);
  const flags = tf.tensor([false, true, true], [3], 'bool');
  const flagsAgain = tf.cast(flags, 'bool');
  assert.deepEqual(Array.from(flagsAgain.dataSync()), [0, 1, 1]);
  // The gradient of a clone goes through such a cast, and still adds up right.
  const v = tf.tensor([1, 2, 3]);
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clone(a), a)))(v);
  assert.deepEqual(Array.from(g.dataSync()), [2, 4, 6]);
  tf.dispose([same, ints, back, flags, flagsAgain, v, g]);
});

test('repeated kernel calls leak no tensors and no wasm memory', async () => {
  const x = tf.tensor(values(2 * 9 * 9 * 3, 7), [2, 9, 9, 3]) as tf.Tensor4D;
  const f = tf.tensor(values(3 * 3 * 3 * 4, 8), [3, 3, 3, 4]) as tf.Tensor4D;
  const df = tf.tensor(values(3 * 3 * 3 * 2, 9), [3, 3, 3, 2]) as tf.Tensor4D;
  // Six output channels: the SIMD filter gradient on dy padded to eight, a scratch tensor of its own.
  const f6 = tf.tensor(values(3 * 3 * 3 * 6, 10), [3, 3, 3, 6]) as tf.Tensor4D;
  // Eight channels in and out, stride 1: Winograd forward, for the input gradient and the filter gradient, four
  // scratch tensors each.
  const x8 = tf.tensor(values(2 * 9 * 9 * 8, 11), [2, 9, 9, 8]) as tf.Tensor4D;
  const f8 = tf.tensor(values(3 * 3 * 8 * 8, 12), [3, 3, 8, 8]) as tf.Tensor4D;
  const once = () =>
    tf.tidy(() => {
      const conv = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')));
      const dw = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')));
      const conv1 = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
      return tf.addN([...conv([x, f]).map((g) => tf.sum(g)), ...conv([x, f6]).map((g) => tf.sum(g)), ...conv1([x8, f8]).map((g) => tf.sum(g)), ...dw([x, df]).map((g) => tf.sum(g))]).dataSync()[0];
    });
  const warm = once();
  const tensors = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  const dataIds = tf.engine().backend.numDataIds();
  for (let i = 0; i < 5; i++) assert.equal(once(), warm);
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(tf.memory().numBytes, bytes);
  assert.equal(tf.engine().backend.numDataIds(), dataIds);
  tf.dispose([x, f, f6, df, x8, f8]);
});

// ---------- whole models ----------

function lenet(size: number, classes: number): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [size, size, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  m.add(tfl.layers.dropout({ rate: 0.2 }));
  m.add(tfl.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }));
  return m;
}

/** Everything the custom CNN and the compact ResNet use, plus depthwise/separable convs (MobileNet-like). */
function mixedNet(size: number, classes: number): tfl.LayersModel {
  let seed = 10;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const inp = tfl.input({ shape: [size, size, 3] });
  const ap = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => layer.apply(x) as tfl.SymbolicTensor;
  let x = ap(tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }), inp);
  x = ap(tfl.layers.batchNormalization(), x);
  // No relu after this pool: windows of negatives pass gradient (the stock wasm MaxPoolGrad misroutes those).
  x = ap(tfl.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x);
  let y = ap(tfl.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() }), x);
  y = ap(tfl.layers.batchNormalization(), y);
  y = ap(tfl.layers.reLU(), y);
  y = ap(tfl.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', kernelInitializer: init() }), y);
  const shortcut = ap(tfl.layers.conv2d({ filters: 12, kernelSize: 1, strides: 2, useBias: false, kernelInitializer: init() }), x);
  let z = ap(tfl.layers.reLU(), ap(tfl.layers.add(), [y, shortcut]));
  z = ap(tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, depthwiseInitializer: init() }), z);
  z = ap(tfl.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', depthwiseInitializer: init(), pointwiseInitializer: init() }), z);
  z = ap(tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' }), z);
  z = ap(tfl.layers.globalAveragePooling2d({}), z);
  const out = ap(tfl.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init() }), z);
  return tfl.model({ inputs: inp, outputs: out });
}

/** Two classes a small conv net can tell apart: vertical vs horizontal stripes, with noise. */
function stripes(n: number, size: number, channels: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const data = new Float32Array(n * size * size * channels);
  const noise = values(data.length, 11);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    labels.push(cls);
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++)
        for (let ch = 0; ch < channels; ch++) {
          const k = ((i * size + r) * size + c) * channels + ch;
          data[k] = ((cls === 0 ? c : r) % 4 < 2 ? 1 : 0) + 0.3 * noise[k]!;
        }
  }
  return { x: tf.tensor4d(data, [n, size, size, channels]), y: tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 2), 'float32') as tf.Tensor2D };
}

test('every kernel a training step of our models needs exists on wasm', async () => {
  const needed = new Set<string>();
  await onBackend('cpu', async () => {
    for (const [build, channels] of [[lenet, 1], [mixedNet, 3]] as const) {
      for (const optimizer of ['sgd', 'adam', 'rmsprop'] as const) {
        const model = build(16, 2);
        const opt = optimizer === 'sgd' ? tf.train.momentum(0.01, 0.9, true) : optimizer === 'adam' ? tf.train.adam(1e-3) : tf.train.rmsprop(1e-3, 0.9, 0.9);
        model.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
        const { x, y } = stripes(4, 16, channels);
        const profile = await tf.profile(async () => {
          await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
        });
        for (const k of profile.kernels) if (!k.name.endsWith('__op')) needed.add(k.name);
        tf.dispose([x, y]);
        model.dispose();
      }
    }
  });
  assert.ok(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'MaxPoolGrad', 'AvgPoolGrad', 'FusedBatchNorm'].every((k) => needed.has(k)));
  const missing = [...needed].filter((k) => tf.getKernel(k, 'wasm') == null);
  assert.deepEqual(missing, []);
});

test('a model with batch norm, residual add, stride 2, depthwise convs and GAP has the same gradients on wasm and cpu', async (t) => {
  const gradsOn = (backend: string) =>
    onBackend(backend, () => {
      const model = mixedNet(12, 3);
      const { x } = stripes(3, 12, 3);
      const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3), 'float32');
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      const out = { loss: value.dataSync()[0]!, grads: Object.values(grads).map((g) => [g.shape.join('x'), g.dataSync() as Float32Array] as const) };
      tf.dispose([x, y, value, ...Object.values(grads)]);
      model.dispose();
      return out;
    });
  const wasm = await gradsOn('wasm');
  const cpu = await gradsOn('cpu');
  assert.ok(Math.abs(wasm.loss - cpu.loss) < 1e-5 * Math.max(1, Math.abs(cpu.loss)));
  assert.equal(wasm.grads.length, cpu.grads.length);
  assert.ok(wasm.grads.length >= 14);
  let worst = 0;
  wasm.grads.forEach(([shape, g], i) => {
    const [cpuShape, cg] = cpu.grads[i]!;
    assert.equal(shape, cpuShape);
    const err = relativeError(g, cg);
    worst = Math.max(worst, err);
    assert.ok(err < TOLERANCE, `gradient ${i} (${shape}): relative error ${err}`);
  });
  t.diagnostic(`worst relative error over ${wasm.grads.length} weight gradients: ${worst.toExponential(2)}`);
});

test('a tf.layers LeNet fits on wasm: loss falls, memory stays flat', async (t) => {
  assert.equal(tf.getBackend(), 'wasm');
  const model = lenet(16, 2);
  // A rate the recipe converges at whatever the dropout draws: at 0.05 with momentum 0.9, 3–4 fits in 40 blew up
  // in the last epochs on cpu and wasm alike (loss ~0 → 8), a property of the recipe, not of the kernels.
  // At 0.01 the last loss was at most 0.03 of the first in 90 fits on both backends.
  model.compile({ optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const { x, y } = stripes(64, 16, 1);
  const losses: number[] = [];
  const tensorsPerEpoch: number[] = [];
  await model.fit(x, y, {
    epochs: 6,
    batchSize: 16,
    shuffle: false,
    verbose: 0,
    yieldEvery: 'never', // no timer-driven yields: tensor counts at epoch ends must not depend on machine load
    callbacks: { onEpochEnd: async (_e, logs) => { losses.push(logs!.loss as number); tensorsPerEpoch.push(tf.memory().numTensors); } },
  });
  t.diagnostic(`losses ${losses.map((l) => l.toFixed(3)).join(' ')}; tensors per epoch ${tensorsPerEpoch.join(' ')}`);
  assert.ok(losses.every(Number.isFinite));
  assert.ok(losses.at(-1)! < losses[0]! * 0.5, `loss did not fall enough: ${losses.join(', ')}`);
  assert.equal(new Set(tensorsPerEpoch.slice(1)).size, 1, `tensor count drifts: ${tensorsPerEpoch.join(', ')}`);
  tf.dispose([x, y]);
  model.dispose();
});
