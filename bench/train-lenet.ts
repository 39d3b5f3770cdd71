// `npm run bench:train` — issue 4's speed bar. LeNet-5 on Debian's Fashion-MNIST, batch 64, SGD lr 0.01
// momentum 0.9, trained by Loupe's engine (tfjs on the wasm backend with our training kernels, a plain
// optimizer.minimize step on a tf.layers model) and by the same recipe in PyTorch (bench/pytorch_lenet.py),
// epoch by epoch interleaved (A B, B A, …) in one run. Reports images/s of both and the ratio (target ≥ 0.3×),
// test accuracy after the same epochs, tf.memory().numTensors per epoch, and where the wasm step's time goes.
//   npm run bench:train -- [--epochs 3] [--limit 60000] [--seed 1]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_LOADERS, selectBackend } from '../electron/core/training/backend.ts';
import { loadFashionMnist, type IdxSet } from '../tests/helpers/fashion-mnist.ts';
import { timeKernels } from './kernel-timing.ts';
import { TorchSide } from './torch-side.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const EPOCHS = arg('epochs', 3);
const LIMIT = arg('limit', 0);
const SEED = arg('seed', 1);
const BATCH = 64;
const LR = 0.01;
const MOMENTUM = 0.9;

// ---------- the tfjs side ----------

/** PyTorch's default init (uniform ±1/√fan_in for weights and biases), so both sides start alike. */
function torchInit(fanIn: number, seed: number) {
  const limit = 1 / Math.sqrt(fanIn);
  return {
    kernelInitializer: tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed }),
    biasInitializer: tfl.initializers.randomUniform({ minval: -limit, maxval: limit, seed: seed + 1 }),
  };
}

function lenet(seed: number): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', ...torchInit(25, seed) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', ...torchInit(150, seed + 2) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 120, activation: 'relu', ...torchInit(400, seed + 4) }));
  m.add(tfl.layers.dense({ units: 84, activation: 'relu', ...torchInit(120, seed + 6) }));
  m.add(tfl.layers.dense({ units: 10, ...torchInit(84, seed + 8) }));
  return m;
}

function batchOf(set: IdxSet, order: Uint32Array, start: number, size: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const pixels = set.rows * set.cols;
  const xs = new Float32Array(size * pixels);
  const labels = new Int32Array(size);
  for (let k = 0; k < size; k++) {
    const j = order[start + k]!;
    for (let p = 0; p < pixels; p++) xs[k * pixels + p] = set.images[j * pixels + p]! / 255;
    labels[k] = set.labels[j]!;
  }
  return tf.tidy(() => ({ x: tf.tensor4d(xs, [size, set.rows, set.cols, 1]), y: tf.oneHot(tf.tensor1d(labels, 'int32'), 10) as tf.Tensor2D }));
}

/** Fisher–Yates with a small LCG: a different, reproducible order per epoch. */
function shuffled(n: number, seed: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

class TfjsSide {
  readonly model = lenet(SEED);
  readonly optimizer = tf.train.momentum(LR, MOMENTUM);
  constructor(private readonly train: IdxSet, private readonly test: IdxSet) {}

  step(x: tf.Tensor4D, y: tf.Tensor2D): number {
    const loss = this.optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, this.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
    const value = loss.dataSync()[0]!;
    loss.dispose();
    return value;
  }

  trainEpoch(epoch: number) {
    const n = LIMIT || this.train.count;
    const order = shuffled(this.train.count, SEED * 1000 + epoch);
    let total = 0;
    let steps = 0;
    const start = performance.now();
    for (let i = 0; i + BATCH <= n; i += BATCH) {
      const { x, y } = batchOf(this.train, order, i, BATCH);
      total += this.step(x, y);
      tf.dispose([x, y]);
      steps++;
    }
    const seconds = (performance.now() - start) / 1000;
    return { epoch, images: steps * BATCH, seconds, loss: total / steps, numTensors: tf.memory().numTensors };
  }

  evaluate() {
    const order = Uint32Array.from({ length: this.test.count }, (_, i) => i);
    let correct = 0;
    const start = performance.now();
    for (let i = 0; i < this.test.count; i += 256) {
      const size = Math.min(256, this.test.count - i);
      const { x, y } = batchOf(this.test, order, i, size);
      correct += tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(this.model.predict(x) as tf.Tensor, 1), tf.argMax(y, 1)), 'int32')).dataSync()[0]!);
      tf.dispose([x, y]);
    }
    return { accuracy: correct / this.test.count, images: this.test.count, seconds: (performance.now() - start) / 1000 };
  }

  /** Per-kernel self time over a few steps (outside the timed epochs). */
  profile(steps: number) {
    const order = shuffled(this.train.count, 7);
    const batches = Array.from({ length: steps }, (_, i) => batchOf(this.train, order, i * BATCH, BATCH));
    const { kernels, totalMs } = timeKernels('wasm', () => {
      for (const { x, y } of batches) this.step(x, y);
    });
    for (const { x, y } of batches) tf.dispose([x, y]);
    const stepMs = totalMs / steps;
    const kernelMs = kernels.reduce((a, k) => a + k.selfMs, 0) / steps;
    return {
      stepMs: round(stepMs, 2),
      kernelMs: round(kernelMs, 2),
      jsOverheadMs: round(stepMs - kernelMs, 2),
      kernels: kernels.slice(0, 14).map((k) => ({ kernel: k.kernel, msPerStep: round(k.selfMs / steps, 3), callsPerStep: k.calls / steps, share: round((k.selfMs / steps / stepMs) * 100, 1) })),
    };
  }
}

const torchArgs = ['--batch', String(BATCH), '--lr', String(LR), '--momentum', String(MOMENTUM), '--limit', String(LIMIT), '--seed', String(SEED)];

const round = (v: number, d = 0) => Math.round(v * 10 ** d) / 10 ** d;

interface SideRow {
  imagesPerSecond: number;
  seconds: number;
  loss: number;
  testAccuracy: number;
  inferenceImagesPerSecond: number;
}
interface EpochRow {
  epoch: number;
  wasm: SideRow & { numTensors: number };
  pytorch: SideRow;
  ratio: number;
}

async function main() {
  const backend = await selectBackend({ loaders: DEFAULT_LOADERS.filter((l) => l.name === 'wasm') });
  const train = loadFashionMnist('train');
  const test = loadFashionMnist('t10k');
  const tfjs = new TfjsSide(train, test);
  const torch = new TorchSide(torchArgs);
  const hello = await torch.next();
  console.error(`bench:train: ${backend.chosen.detail}; torch ${hello.torch}, ${hello.threads} thread(s); ${EPOCHS} epoch(s) of ${LIMIT || train.count} images`);

  const epochs: EpochRow[] = [];
  for (let e = 1; e <= EPOCHS; e++) {
    // Alternate who goes first, so neither side always runs on a machine warmed (or loaded) by the other.
    let w: ReturnType<TfjsSide['trainEpoch']>;
    let t: Awaited<ReturnType<TorchSide['ask']>>;
    if (e % 2) {
      w = tfjs.trainEpoch(e);
      t = await torch.ask(`train ${e}`);
    } else {
      t = await torch.ask(`train ${e}`);
      w = tfjs.trainEpoch(e);
    }
    const we = tfjs.evaluate();
    const te = await torch.ask('eval');
    const row: EpochRow = {
      epoch: e,
      wasm: { imagesPerSecond: round(w.images / w.seconds), seconds: round(w.seconds, 2), loss: round(w.loss, 4), testAccuracy: round(we.accuracy, 4), inferenceImagesPerSecond: round(we.images / we.seconds), numTensors: w.numTensors },
      pytorch: { imagesPerSecond: round((t.images as number) / (t.seconds as number)), seconds: round(t.seconds as number, 2), loss: round(t.loss as number, 4), testAccuracy: round(te.accuracy as number, 4), inferenceImagesPerSecond: round((te.images as number) / (te.seconds as number)) },
      ratio: round((w.images / w.seconds) / ((t.images as number) / (t.seconds as number)), 3),
    };
    epochs.push(row);
    console.error(`epoch ${e}: wasm ${row.wasm.imagesPerSecond} img/s (acc ${row.wasm.testAccuracy}), pytorch ${row.pytorch.imagesPerSecond} img/s (acc ${row.pytorch.testAccuracy}), ratio ${row.ratio}, tensors ${w.numTensors}`);
  }
  torch.close();

  const profile = tfjs.profile(30);
  const sum = (side: 'wasm' | 'pytorch') => epochs.reduce((a, r) => ({ images: a.images + r[side].imagesPerSecond * r[side].seconds, seconds: a.seconds + r[side].seconds }), { images: 0, seconds: 0 });
  const ws = sum('wasm');
  const ps = sum('pytorch');
  const ratios = epochs.map((r) => r.ratio).sort((a, b) => a - b);
  const last = epochs.at(-1)!;
  const result = {
    bench: 'train-lenet',
    recipe: { model: 'LeNet-5 (conv 6@5x5 same, relu, maxpool 2, conv 16@5x5 valid, relu, maxpool 2, fc 120, fc 84, fc 10)', data: 'Fashion-MNIST (Debian dataset-fashion-mnist), pixels/255', batch: BATCH, optimizer: `SGD lr ${LR} momentum ${MOMENTUM}`, init: 'PyTorch default (uniform ±1/sqrt(fan_in)) on both sides', epochs: EPOCHS, trainImagesPerEpoch: LIMIT || train.count, seed: SEED },
    machine: { cores: (await import('node:os')).cpus().length, loadAverageAtEnd: (await import('node:os')).loadavg().map((v) => +v.toFixed(2)), node: process.version, tfjs: tf.version_core, backend: backend.chosen.detail, torch: hello.torch, torchThreads: hello.threads },
    summary: {
      wasmImagesPerSecond: round(ws.images / ws.seconds),
      pytorchImagesPerSecond: round(ps.images / ps.seconds),
      ratio: round(ws.images / ws.seconds / (ps.images / ps.seconds), 3),
      medianEpochRatio: ratios[Math.floor(ratios.length / 2)],
      target: 0.3,
      wasmTestAccuracy: last.wasm.testAccuracy,
      pytorchTestAccuracy: last.pytorch.testAccuracy,
      accuracyGapPoints: round((last.pytorch.testAccuracy - last.wasm.testAccuracy) * 100, 2),
      numTensorsPerEpoch: epochs.map((r) => r.wasm.numTensors),
    },
    epochs,
    wasmStepProfile: profile,
  };
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'train-lenet.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result.summary));
}

// An uncaught error would be rethrown by the wasm module's own handler, printing its minified source.
await main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
