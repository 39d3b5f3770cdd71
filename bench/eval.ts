// `npm run bench:eval` — issue 5's inference bar: Loupe's evaluation path (the run's LeNet-5 from models.ts,
// uint8 rows normalized and predicted in batches of 256 by predictRows, as evaluations and `loupe predict` do)
// against PyTorch on the same model (weights copied over) and the same 10,000 Fashion-MNIST test images, in
// the same script, interleaved. Target: Loupe ≥ 0.8× PyTorch's images/s. Also checks both predict the same classes.
//   npm run bench:eval -- [--rounds 5] [--train-images 20000]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../electron/core/training/backend.ts';
import { lenet5 } from '../electron/core/training/models.ts';
import { fit, type BatchSource } from '../electron/core/training/fit.ts';
import { predictRows, PREDICT_BATCH } from '../electron/core/training/predict.ts';
import type { Preprocessing } from '../shared/training.ts';
import { loadFashionMnist, type IdxSet } from '../tests/helpers/fashion-mnist.ts';
import { TorchSide } from './torch-side.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 5);
const TRAIN_IMAGES = arg('train-images', 20_000);
// The PyTorch recipe divides by 255 only: identity normalization on both sides.
const prep: Preprocessing = { imageSize: 28, channels: 1, resize: 'squash', normalization: { mean: [0], std: [1] }, sixteenBit: 'own-range' };

function sourceOf(set: IdxSet, n: number): BatchSource {
  return {
    size: n,
    shape: [28, 28, 1],
    *batches(_epoch, batchSize) {
      for (let s = 0; s < n; s += batchSize) {
        const k = Math.min(batchSize, n - s);
        const xs = new Float32Array(k * 784);
        for (let i = 0; i < k * 784; i++) xs[i] = set.images[s * 784 + i]! / 255;
        yield { xs, ys: Int32Array.from(set.labels.subarray(s, s + k)), n: k };
      }
    },
  };
}

/** Loupe's weights in PyTorch's layout: conv HWIO→OIHW, dense (in,out)→(out,in), fc1's rows from NHWC to NCHW order. */
function torchWeights(model: tfl.LayersModel): { spec: [string, number[]][]; data: Float32Array } {
  const spec: [string, number[]][] = [];
  const parts: Float32Array[] = [];
  const push = (name: string, shape: number[], values: Float32Array) => {
    spec.push([name, shape]);
    parts.push(values);
  };
  const conv = (layer: string, torchIndex: number) => {
    const [k, b] = model.getLayer(layer).getWeights() as [tf.Tensor4D, tf.Tensor1D];
    const [kh, kw, ci, co] = k.shape;
    push(`${torchIndex}.weight`, [co, ci, kh, kw], tf.transpose(k, [3, 2, 0, 1]).dataSync() as Float32Array);
    push(`${torchIndex}.bias`, [co], b.dataSync() as Float32Array);
  };
  const dense = (layer: string, torchIndex: number, nhwc?: [number, number, number]) => {
    const [k, b] = model.getLayer(layer).getWeights() as [tf.Tensor2D, tf.Tensor1D];
    let kernel = k;
    if (nhwc) {
      const [h, w, c] = nhwc;
      kernel = tf.reshape(tf.transpose(tf.reshape(k, [h, w, c, -1]), [2, 0, 1, 3]), [h * w * c, -1]);
    }
    push(`${torchIndex}.weight`, [kernel.shape[1], kernel.shape[0]], tf.transpose(kernel).dataSync() as Float32Array);
    push(`${torchIndex}.bias`, [b.shape[0]], b.dataSync() as Float32Array);
  };
  conv('conv1', 0);
  conv('conv2', 3);
  dense('fc1', 7, [5, 5, 16]);
  dense('fc2', 9);
  dense('head_logits', 11);
  const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { spec, data };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main() {
  const backend = await selectBackend();
  const train = loadFashionMnist('train');
  const test = loadFashionMnist('t10k');
  const model = lenet5({ imageSize: 28, channels: 1, numClasses: 10, dropout: 0, seed: 1 });
  await fit(model, sourceOf(train, TRAIN_IMAGES), null, {
    epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false }, schedule: { kind: 'constant' },
    earlyStopping: null, weightDecay: 0, classWeights: null, numClasses: 10,
  });

  const tmp = join(import.meta.dirname, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const weightsFile = join(tmp, 'eval-lenet.f32');
  const { spec, data } = torchWeights(model);
  writeFileSync(weightsFile, Buffer.from(data.buffer));
  writeFileSync(`${weightsFile}.json`, JSON.stringify(spec));
  const torch = new TorchSide();
  const ready = await torch.next();
  await torch.ask(`load ${weightsFile}`);

  const loupeRound = () => {
    const start = performance.now();
    let correct = 0;
    let predictedSum = 0;
    for (let s = 0; s < test.count; s += PREDICT_BATCH) {
      const n = Math.min(PREDICT_BATCH, test.count - s);
      const probs = predictRows(model, test.images.subarray(s * 784, (s + n) * 784), n, prep);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
        predictedSum += best;
        if (best === test.labels[s + i]) correct++;
      }
    }
    return { seconds: (performance.now() - start) / 1000, accuracy: correct / test.count, predictedSum };
  };

  const rows: { loupe: number; pytorch: number; ratio: number }[] = [];
  let parity = { loupeAccuracy: 0, pytorchAccuracy: 0, samePredictedSum: false };
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate who goes first, so neither side always gets the quieter moment.
    const order = r % 2 === 0 ? ['loupe', 'pytorch'] : ['pytorch', 'loupe'];
    let l = { seconds: 0, accuracy: 0, predictedSum: 0 };
    let p: Record<string, number | string | boolean> = {};
    for (const side of order) {
      if (side === 'loupe') l = loupeRound();
      else p = await torch.ask('eval');
    }
    const loupeIps = test.count / l.seconds;
    const torchIps = test.count / Number(p['seconds']);
    rows.push({ loupe: Math.round(loupeIps), pytorch: Math.round(torchIps), ratio: Math.round((loupeIps / torchIps) * 100) / 100 });
    parity = { loupeAccuracy: l.accuracy, pytorchAccuracy: Number(p['accuracy']), samePredictedSum: l.predictedSum === Number(p['predictedSum']) };
    console.log(`round ${r + 1}: Loupe ${Math.round(loupeIps)} img/s, PyTorch ${Math.round(torchIps)} img/s, ratio ${rows[r]!.ratio}`);
  }
  torch.close();
  const result = {
    bench: 'eval-inference',
    date: new Date().toISOString(),
    backend: backend.chosen,
    torch: { version: ready['torch'], threads: ready['threads'] },
    model: 'LeNet-5 (electron/core/training/models.ts), weights copied to PyTorch',
    images: test.count,
    batch: PREDICT_BATCH,
    rounds: rows,
    median: { loupe: median(rows.map((r) => r.loupe)), pytorch: median(rows.map((r) => r.pytorch)), ratio: median(rows.map((r) => r.ratio)) },
    target: 0.8,
    parity,
    loadAverage: (await import('node:os')).loadavg().map((v) => Math.round(v * 100) / 100),
  };
  console.log(JSON.stringify(result.median), JSON.stringify(parity));
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'eval-inference.json'), JSON.stringify(result, null, 2) + '\n');
}

await main();
