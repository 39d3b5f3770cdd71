// `npm run bench:kernels` — each training kernel we register for wasm, timed against wasm's stock kernel (where it
// has one) and the cpu backend's (plain JS loops), at LeNet and compact-ResNet/MobileNet sizes. Rounds are
// interleaved (ours, stock, cpu, ours, …) and medians reported. Results: bench/results/kernels.json.
// A kernel micro-benchmark: it times single kernels, not the training path (that is bench:train). --tiny: the
// first two cases, one round, no cpu timing.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../electron/core/training/kernels/index.ts';
import { median, MIN_ROUNDS, runBench, runFacts, TINY, writeResult } from './support.ts';

tf.env().set('PROD', true); // no cpu-backend banner in the bench output

interface Case {
  kernel: string;
  label: string;
  inputs: Record<string, number[]>;
  attrs: Record<string, unknown>;
  /** Time the cpu kernel too (false where one call takes tens of seconds). */
  cpu?: boolean;
}

const conv = (label: string, x: number[], f: number[], strides: number, pad: 'same' | 'valid', dy: number[]): Case[] => [
  { kernel: 'Conv2DBackpropFilter', label, inputs: { x, dy }, attrs: { strides, pad, dataFormat: 'NHWC', filterShape: f }, cpu: x[0]! * x[1]! * x[2]! * f[0]! * f[1]! * f[2]! * f[3]! < 1e8 },
  { kernel: 'Conv2DBackpropInput', label, inputs: { dy, filter: f }, attrs: { strides, pad, dataFormat: 'NHWC', inputShape: x } },
];
const depthwise = (label: string, x: number[], f: number[], strides: number, dy: number[]): Case[] => [
  { kernel: 'DepthwiseConv2dNativeBackpropFilter', label, inputs: { x, dy }, attrs: { strides, pad: 'same', dilations: 1, filterShape: f } },
  { kernel: 'DepthwiseConv2dNativeBackpropInput', label, inputs: { dy, filter: f }, attrs: { strides, pad: 'same', dilations: 1, inputShape: x } },
];

const allCases: Case[] = [
  ...conv('LeNet conv1 5x5 same, batch 64, 28x28x1 -> 6', [64, 28, 28, 1], [5, 5, 1, 6], 1, 'same', [64, 28, 28, 6]).slice(0, 1),
  ...conv('LeNet conv2 5x5 valid, batch 64, 14x14x6 -> 16', [64, 14, 14, 6], [5, 5, 6, 16], 1, 'valid', [64, 10, 10, 16]),
  ...conv('ResNet 3x3 s1 same, batch 32, 16x16x32 -> 32', [32, 16, 16, 32], [3, 3, 32, 32], 1, 'same', [32, 16, 16, 32]),
  ...conv('ResNet 3x3 s2 same, batch 32, 16x16x32 -> 64', [32, 16, 16, 32], [3, 3, 32, 64], 2, 'same', [32, 8, 8, 64]),
  ...conv('ResNet 1x1 s2 projection, batch 32, 16x16x32 -> 64', [32, 16, 16, 32], [1, 1, 32, 64], 2, 'valid', [32, 8, 8, 64]),
  ...depthwise('MobileNet dw 3x3 s1, batch 32, 16x16x64', [32, 16, 16, 64], [3, 3, 64, 1], 1, [32, 16, 16, 64]),
  ...depthwise('MobileNet dw 3x3 s2, batch 32, 16x16x64', [32, 16, 16, 64], [3, 3, 64, 1], 2, [32, 8, 8, 64]),
  { kernel: 'MaxPoolGrad', label: 'LeNet pool1 2x2, batch 64, 28x28x6', inputs: { dy: [64, 14, 14, 6], input: [64, 28, 28, 6], output: [64, 14, 14, 6] }, attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
  { kernel: 'MaxPoolGrad', label: 'LeNet pool2 2x2, batch 64, 10x10x16', inputs: { dy: [64, 5, 5, 16], input: [64, 10, 10, 16], output: [64, 5, 5, 16] }, attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
  { kernel: 'BatchMatMul', label: 'dense dW = x^T dy, 64x400 . 64x120', inputs: { a: [64, 400], b: [64, 120] }, attrs: { transposeA: true, transposeB: false } },
  { kernel: 'BatchMatMul', label: 'dense dx = dy W^T, 64x120 . 400x120', inputs: { a: [64, 120], b: [400, 120] }, attrs: { transposeA: false, transposeB: true } },
];

const cases = TINY ? allCases.slice(0, 2).map((c) => ({ ...c, cpu: false })) : allCases;

/** ms per call of `kernel` on the active backend, with the given registration in place. */
function timeOnce(c: Case, data: Record<string, tf.Tensor>, budgetMs: number): number {
  const run = () => {
    const out = tf.engine().runKernel(c.kernel, data, c.attrs as tf.NamedAttrMap) as tf.Tensor;
    out.dataSync();
    out.dispose();
  };
  run(); // warm-up (XNNPACK operator creation, JIT)
  let n = 0;
  const start = performance.now();
  do {
    run();
    n++;
  } while (performance.now() - start < budgetMs && n < 200);
  return (performance.now() - start) / n;
}

function swap(kernel: string, config: tf.KernelConfig): void {
  tf.unregisterKernel(kernel, 'wasm');
  tf.registerKernel(config);
}

async function main(loadAtStart: number[]) {
  // Initialise wasm before replacing its kernels, so the stock ones we time against get their setup (cwrap).
  await tf.setBackend('wasm');
  const stock = new Map(cases.map((c) => [c.kernel, tf.getKernel(c.kernel, 'wasm')]));
  registerWasmTrainingKernels();
  const ours = new Map(cases.map((c) => [c.kernel, tf.getKernel(c.kernel, 'wasm')!]));
  const rows = [];
  for (const c of cases) {
    const values = Object.fromEntries(Object.entries(c.inputs).map(([k, s]) => [k, tf.randomUniform(s, -1, 1, 'float32', 3).dataSync()]));
    const on = async (backend: string) => {
      await tf.setBackend(backend);
      return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, tf.tensor(v, c.inputs[k])]));
    };
    const wasmData = await on('wasm');
    const cpuData = await on('cpu');
    const o: number[] = [], s: number[] = [], p: number[] = [];
    const stockConfig = stock.get(c.kernel);
    for (let round = 0; round < (TINY ? 1 : MIN_ROUNDS); round++) {
      await tf.setBackend('wasm');
      swap(c.kernel, ours.get(c.kernel)!);
      o.push(timeOnce(c, wasmData, TINY ? 0 : 150));
      if (stockConfig) {
        swap(c.kernel, stockConfig);
        s.push(timeOnce(c, wasmData, TINY ? 0 : 150));
        swap(c.kernel, ours.get(c.kernel)!);
      }
      // The cpu kernels take up to seconds per call at these sizes: one timed call, in the first round only.
      if (round === 0 && c.cpu !== false) {
        await tf.setBackend('cpu');
        p.push(timeOnce(c, cpuData, 0));
      }
    }
    tf.dispose([...Object.values(wasmData), ...Object.values(cpuData)]);
    const row = {
      kernel: c.kernel,
      case: c.label,
      oursMs: +median(o).toFixed(3),
      stockWasmMs: stockConfig ? +median(s).toFixed(3) : null,
      cpuMs: p.length ? +median(p).toFixed(2) : null,
      speedupVsStockWasm: stockConfig ? +(median(s) / median(o)).toFixed(2) : null,
      speedupVsCpu: p.length ? +(median(p) / median(o)).toFixed(1) : null,
    };
    rows.push(row);
    console.error(`${c.kernel.padEnd(36)} ${c.label.padEnd(52)} ours ${row.oursMs} ms  stock ${row.stockWasmMs ?? '—'}  cpu ${row.cpuMs ?? '— (too slow to time)'}`);
  }
  const result = {
    bench: 'kernels',
    ...runFacts(loadAtStart),
    note: 'Kernel micro-benchmark. ms per call, median of 5 interleaved rounds; stockWasmMs null = tfjs-backend-wasm has no such kernel. The stock MaxPoolGrad is also wrong for windows of negatives (see tests/medium/wasm-kernels.test.ts).',
    tfjs: tf.version_core,
    rows,
  };
  writeResult('kernels', result);
  console.log(JSON.stringify(rows.map((r) => ({ kernel: r.kernel, case: r.case, oursMs: r.oursMs, vsStock: r.speedupVsStockWasm, vsCpu: r.speedupVsCpu }))));
}

await runBench('kernels', main);
