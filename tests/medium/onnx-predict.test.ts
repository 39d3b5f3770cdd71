// Predictions on onnxruntime (issue 13): a trained model's probabilities from the native engine agree with TF.js
// on wasm, and whatever onnxruntime cannot do or gets wrong falls back on TF.js, with the reason. Real models, real
// onnxruntime, real wasm kernels.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { AGREEMENT, maxDifference, openOnnxPredictor, RUN_INPUT_VALUES } from '../../electron/core/training/onnx-predict.ts';
import { onnxValidation, openPredictor, predictRows } from '../../electron/core/training/predict.ts';
import { evaluate } from '../../electron/core/training/fit.ts';
import { randomSource } from '../helpers/tiny-fit.ts';
import { trainConfigSchema, type TrainConfigInput } from '../../shared/training.ts';
import { seededRandom } from '../../shared/random.ts';
import { importOnnxBackbone } from '../../electron/core/onnx-import/import-backbone.ts';
import { applyBackbone } from '../../electron/core/training/backbones.ts';
import { buildTransferModel } from '../../electron/core/training/transfer.ts';
import { Project } from '../../electron/core/project/project.ts';
import { tempDir } from '../helpers/tmp.ts';

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
});

const preprocessing = (size: number, channels: 1 | 3) => ({
  imageSize: size,
  channels,
  resize: 'squash' as const,
  normalization: { mean: Array(channels).fill(0.5), std: Array(channels).fill(0.25) },
  sixteenBit: 'own-range' as const,
});

/** Noise images whose contrast grows from the first to the last, so that a fresh model tells them apart. */
function rowsOf(n: number, per: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: n * per }, (_, i) => Math.floor(random() * 256 * (0.1 + (0.9 * Math.floor(i / per)) / n)));
}

/** Batch norms with statistics and scales a fresh model does not have (all 0 and 1), so their folding counts. */
function randomizeBatchNorms(model: tfl.LayersModel, seed: number): void {
  const random = seededRandom(seed);
  const ranges: Record<string, [number, number]> = { gamma: [0.5, 1.5], beta: [-0.5, 0.5], moving_mean: [-0.5, 0.5], moving_variance: [0.5, 2] };
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    layer.setWeights(
      layer.weights.map((w) => {
        // A second model built in the process has its weights named with a suffix (gamma_1).
        const [lo, hi] = ranges[/(gamma|beta|moving_mean|moving_variance)(_\d+)?$/.exec(w.name)![1]!]!;
        return tf.tensor(Array.from({ length: w.shape.reduce((a, b) => a! * b!, 1)! }, () => lo + (hi - lo) * random()), w.shape as number[]);
      }),
    );
  }
}

/** Probabilities of several batches through `openPredictor`, and the engine that gave them. */
async function predictAll(model: tfl.LayersModel, p: ReturnType<typeof preprocessing>, rows: Uint8Array, n: number, k: number, batch: number, open?: typeof openOnnxPredictor) {
  const predictor = await openPredictor(model, p, k, open);
  const per = p.imageSize * p.imageSize * p.channels;
  const probs = new Float32Array(n * k);
  try {
    for (let s = 0; s < n; s += batch) {
      const m = Math.min(batch, n - s);
      probs.set(await predictor.predict(rows.subarray(s * per, (s + m) * per), m, n - s - m), s * k);
    }
    return { probs, engine: predictor.engine, notes: [...predictor.notes] };
  } finally {
    await predictor.close();
  }
}

for (const [arch, size, channels] of [
  ['lenet5', 28, 1],
  ['cnn', 32, 3],
  ['resnet', 32, 1],
] as const) {
  test(`${arch}: onnxruntime predicts what TF.js predicts, on every core`, async () => {
    const config = trainConfigSchema.parse({ arch, imageSize: size, channels, dropout: 0.25, seed: 7, width: 8 } satisfies TrainConfigInput);
    const model = buildModel(config, 5);
    randomizeBatchNorms(model, 13);
    const p = preprocessing(size, channels);
    const n = 70;
    const rows = rowsOf(n, size * size * channels, 11);
    try {
      const tfjs = predictRows(model, rows, n, p);
      const got = await predictAll(model, p, rows, n, 5, 32);
      assert.match(got.engine, /^onnxruntime on \d+ threads?$/);
      assert.deepEqual(got.notes, []);
      const d = maxDifference(got.probs, tfjs);
      assert.ok(d <= AGREEMENT, `max |Δp| ${d}`);
      // Not a trivial agreement: the model tells the images apart by far more than the tolerance.
      const top = Array.from({ length: n }, (_, i) => Math.max(...got.probs.subarray(i * 5, i * 5 + 5)));
      assert.ok(Math.max(...top) - Math.min(...top) > 20 * AGREEMENT, `probabilities vary between images: ${Math.min(...top)}–${Math.max(...top)}`);
      // LOUPE_INFERENCE=tfjs keeps TF.js, with the same probabilities as predictRows.
      process.env['LOUPE_INFERENCE'] = 'tfjs';
      try {
        const forced = await predictAll(model, p, rows, n, 5, 32);
        assert.match(forced.engine, /^TF\.js on wasm/);
        assert.ok(maxDifference(forced.probs, tfjs) < 1e-6);
      } finally {
        delete process.env['LOUPE_INFERENCE'];
      }
    } finally {
      model.dispose();
    }
  });
}

test('a model onnxruntime cannot take, an engine that fails or one that disagrees: TF.js predicts, and the notes say why', async () => {
  const input = tfl.input({ shape: [8, 8, 1] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: 'glorotUniform' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.upSampling2d({ size: [2, 2] }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const unsupported = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor });
  const p8 = preprocessing(8, 1);
  const rows8 = rowsOf(20, 64, 3);
  const a = await predictAll(unsupported, p8, rows8, 20, 3, 8);
  assert.match(a.engine, /^TF\.js on wasm/);
  assert.match(a.notes.join(), /onnxruntime could not take this model \(.*UpSampling2D.*\); TF\.js on wasm predicted instead/);
  assert.ok(maxDifference(a.probs, predictRows(unsupported, rows8, 20, p8)) < 1e-6);
  unsupported.dispose();

  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 28, channels: 1, seed: 3 }), 4);
  const p = preprocessing(28, 1);
  const rows = rowsOf(40, 784, 5);
  const want = predictRows(model, rows, 40, p);
  // A converter bug simulated: the real engine, its probabilities off by 1e-3.
  const skewed: typeof openOnnxPredictor = async (...args) => {
    const real = await openOnnxPredictor(...args);
    return { ...real, run: async (xs, n) => (await real.run(xs, n)).map((v) => v + 1e-3) };
  };
  const b = await predictAll(model, p, rows, 40, 4, 16, skewed);
  assert.match(b.engine, /^TF\.js on wasm/);
  assert.match(b.notes.join(), /onnxruntime's outputs differed from TF\.js's by up to 0\.0010; TF\.js on wasm predicted instead/);
  assert.ok(maxDifference(b.probs, want) < 1e-6, 'no batch carries the skewed probabilities');
  // An engine that fails on its second batch: that batch and the rest go to TF.js.
  let calls = 0;
  const failing: typeof openOnnxPredictor = async (...args) => {
    const real = await openOnnxPredictor(...args);
    return { ...real, run: async (xs, n) => (++calls === 2 ? Promise.reject(new Error('out of memory')) : real.run(xs, n)) };
  };
  const c = await predictAll(model, p, rows, 40, 4, 16, failing);
  assert.match(c.notes.join(), /onnxruntime failed \(out of memory\); TF\.js on wasm predicted instead/);
  assert.ok(maxDifference(c.probs, want) <= AGREEMENT);
  model.dispose();
});

test('a network fine-tuned from a backbone imported from ONNX predicts on onnxruntime, as TF.js does', async () => {
  const dir = tempDir();
  const project = Project.create(join(dir, 'p'));
  const model = await (async () => {
    try {
      const info = await importOnnxBackbone(project, join(import.meta.dirname, '..', 'fixtures', 'onnx', 'efficientnet-b0-tiny.onnx'), { name: 'effnet' });
      const config = applyBackbone(trainConfigSchema.parse({ arch: 'backbone', backbone: info.name, dropout: 0.2, seed: 2 }), info);
      return (await buildTransferModel(project, config, 3)).model;
    } finally {
      project.close();
    }
  })();
  const [size, , channels] = model.inputs[0]!.shape.slice(1) as [number, number, 1 | 3];
  const p = preprocessing(size, channels);
  const n = 12;
  const rows = rowsOf(n, size * size * channels, 4);
  try {
    const got = await predictAll(model, p, rows, n, 3, n);
    assert.match(got.engine, /^onnxruntime/, got.notes.join());
    assert.ok(maxDifference(got.probs, predictRows(model, rows, n, p)) <= AGREEMENT);
  } finally {
    model.dispose();
  }
});

test('large images go to onnxruntime a few at a time, and the batch comes back whole and in order', async () => {
  const input = tfl.input({ shape: [224, 224, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 4, strides: 4, activation: 'relu', kernelInitializer: 'glorotUniform' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor });
  const p = preprocessing(224, 3);
  const n = 30;
  const rows = rowsOf(n, 224 * 224 * 3, 9);
  try {
    const engine = await openOnnxPredictor(model, [224, 224, 3], 3);
    assert.equal(engine.imagesPerRun, Math.floor(RUN_INPUT_VALUES / (224 * 224 * 3)));
    assert.ok(engine.imagesPerRun < n / 2, 'this batch takes three calls');
    await engine.close();
    const got = await predictAll(model, p, rows, n, 3, n);
    assert.match(got.engine, /^onnxruntime/);
    assert.ok(maxDifference(got.probs, predictRows(model, rows, n, p)) <= AGREEMENT);
  } finally {
    model.dispose();
  }
});

test("an epoch's validation on onnxruntime gives fit's own loss and accuracy; a faulty engine hands it to TF.js, with one warning", async () => {
  for (const arch of ['lenet5', 'resnet'] as const) {
    const model = buildModel(trainConfigSchema.parse({ arch, imageSize: 28, channels: 1, dropout: 0.25, seed: 8, width: 8 }), 3);
    randomizeBatchNorms(model, 21);
    const source = randomSource(300, 28, 5);
    const warnings: string[] = [];
    try {
      const want = await evaluate(model, source, 128, 3);
      const got = await onnxValidation(3, 128, (m) => warnings.push(m))(model, source);
      assert.ok(Math.abs(got.loss - want.loss) < 1e-5, `${arch}: loss ${got.loss} vs ${want.loss}`);
      assert.equal(got.accuracy, want.accuracy, arch);
      assert.ok(want.accuracy > 0.2 && want.accuracy < 0.5 && want.loss > 0.5, `${arch}: a fresh model on 3 balanced classes (${want.accuracy}, ${want.loss})`);
      assert.equal(warnings.length, 0, warnings.join());
      // The real engine, its probabilities off by 1e-3: TF.js validates this epoch and the next, and says so once.
      const skewed: typeof openOnnxPredictor = async (...args) => {
        const real = await openOnnxPredictor(...args);
        return { ...real, run: async (xs, n) => (await real.run(xs, n)).map((v) => v + 1e-3) };
      };
      const validate = onnxValidation(3, 128, (m) => warnings.push(m), skewed);
      for (let epoch = 0; epoch < 2; epoch++) assert.deepEqual(await validate(model, source), want);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^Validation runs on TF\.js: onnxruntime's outputs differed from TF\.js's by up to 0\.0010$/);
    } finally {
      model.dispose();
    }
  }
});

test('loupe doctor names the engine of predictions, and LOUPE_INFERENCE=tfjs keeps TF.js', () => {
  const doctor = (env: NodeJS.ProcessEnv) => {
    const run = spawnSync(process.execPath, ['bin/loupe.js', 'doctor', '--json'], { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8', env });
    assert.equal(run.status, 0, run.stderr);
    return (JSON.parse(run.stdout) as { predictions: string }).predictions;
  };
  const { LOUPE_INFERENCE: _, ...env } = process.env;
  assert.match(doctor(env), /^onnxruntime \d+\.\d+\.\d+ on \d+ threads?$/);
  assert.equal(doctor({ ...env, LOUPE_INFERENCE: 'tfjs' }), 'TF.js on wasm (LOUPE_INFERENCE=tfjs)');
});

test('maxDifference: relative above 1; NaN on one side only, or arrays of other lengths, never pass as agreement', () => {
  const f = (...v: number[]) => Float32Array.from(v);
  assert.equal(maxDifference(f(0.5, 0.25), f(0.5, 0.5)), 0.25);
  assert.equal(maxDifference(f(NaN, 1), f(NaN, 1)), 0);
  assert.equal(maxDifference(f(NaN, 1), f(0.5, 1)), Infinity);
  assert.equal(maxDifference(f(0.5, 1), f(0.5, NaN)), Infinity);
  assert.equal(maxDifference(f(1), f(1, 2)), Infinity);
  // Above 1 (features), relative to the reference's size.
  assert.equal(maxDifference(f(200, 0.5), f(100, 0.5)), 1);
  assert.equal(maxDifference(f(100.01), f(100)), Math.abs(Math.fround(100.01) - 100) / 100);
});
