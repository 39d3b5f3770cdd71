// Issue 12: the head-only phase on cached features. With a frozen backbone and no augmentation, each image's
// feature vector is computed once and kept in the tensor cache (keyed by image, backbone content, feature layer
// and preprocessing); the head then trains on vectors. It must train exactly as the image path does (same
// batches, same losses), hit the cache on the next run, and miss it when the backbone or preprocessing changes.
// Real project, real PNGs, an imported ONNX backbone, real training steps on wasm.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { checkpointDir, loadModel } from '../../electron/core/training/checkpoint.ts';
import { runDir } from '../../electron/core/training/runs.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { tempDir } from '../helpers/tmp.ts';
import { projectWithOnnxBackbone } from '../helpers/image-project.ts';
import { AGREEMENT, maxDifference } from '../../electron/core/training/onnx-predict.ts';

const fixtures = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
let dir = '';
let core: LoupeCore;
const IMAGES = 2 * 12;

const headOnly: TrainConfigInput = {
  arch: 'backbone',
  backbone: 'mnv2',
  epochs: 3,
  headEpochs: 3,
  unfreezeBlocks: 0,
  batchSize: 8,
  dropout: 0,
  optimizer: { kind: 'adam', lr: 0.01 },
  augment: {},
  earlyStopping: null,
  seed: 5,
};

function featureDirs(): string[] {
  return readdirSync(join(dir, 'project', 'cache', 'tensors')).filter((d) => d.startsWith('features-')).sort();
}

async function train(config: TrainConfigInput, featureCache = true) {
  const statuses: string[] = [];
  const [run] = createRuns(core.requireProject(), { config }, 'test');
  // Progress counts after the status "Computing features" are the features', as the Train view shows them.
  const events = {
    status: (m: string) => statuses.push(m),
    prepare: (done: number, total: number) => {
      if (statuses.at(-1)?.startsWith('Computing features')) statuses[statuses.length - 1] = `Computing features ${done}/${total}`;
    },
  };
  const result = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm', featureCache, events });
  assert.equal(result.status, 'finished', result.message);
  const { epochs } = await core.dispatch('runs:get', { runId: run!.id });
  return { epochs, statuses, runId: run!.id };
}

/** The trained head's kernel as the run's best checkpoint holds it. */
async function headKernel(runId: number): Promise<Float32Array> {
  const model = await loadModel(checkpointDir(runDir(core.requireProject(), runId), 'best'));
  const kernel = model.getLayer('xfer_logits').getWeights()[0]!.dataSync() as Float32Array;
  model.dispose();
  return kernel;
}

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  core = await projectWithOnnxBackbone(dir, IMAGES, join(fixtures, 'mobilenetv2-tiny.onnx'), 'mnv2');
});

test('the head trains on cached features exactly as on images, and the next run hits the cache', async () => {
  const cached = await train(headOnly);
  const used = cached.statuses.filter((s) => s.startsWith('Computing features'));
  assert.equal(used.at(-1), `Computing features ${IMAGES}/${IMAGES}`, cached.statuses.join(' | '));
  assert.equal(featureDirs().length, 1);
  const data = join(dir, 'project', 'cache', 'tensors', featureDirs()[0]!, 'data.bin');
  const bytes = statSync(data).size;
  assert.equal(bytes % (IMAGES * 4), 0);

  const images = await train(headOnly, false);
  assert.ok(!images.statuses.some((s) => s.startsWith('Computing features')));
  assert.equal(cached.epochs.length, 3);
  cached.epochs.forEach((e, i) => {
    const o = images.epochs[i]!;
    assert.ok(Math.abs(e.trainLoss - o.trainLoss) < 1e-4, `epoch ${i + 1} train loss ${e.trainLoss} vs ${o.trainLoss} on images`);
    assert.ok(Math.abs(e.valLoss! - o.valLoss!) < 1e-4, `epoch ${i + 1} val loss ${e.valLoss} vs ${o.valLoss} on images`);
  });
  // It learned something, or equality would prove little.
  assert.ok(cached.epochs.at(-1)!.trainLoss < cached.epochs[0]!.trainLoss);
  // The checkpoint of the full model holds the head trained on features (the head model shares its layers).
  const [a, b] = [await headKernel(cached.runId), await headKernel(images.runId)];
  assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1e-4));

  const again = await train(headOnly);
  assert.ok(again.statuses.includes(`Features of all ${IMAGES} images are cached`), again.statuses.join(' | '));
  assert.equal(statSync(data).size, bytes);
  assert.deepEqual(again.epochs.map((e) => e.valLoss), cached.epochs.map((e) => e.valLoss));
});

test('features computed on two threads are the ones one thread computes', async (t) => {
  // On TF.js: without its source.onnx, and with LOUPE_INFERENCE=tfjs, the features are not computed on onnxruntime.
  const source = join(dir, 'project', 'backbones', 'mnv2', 'source.onnx');
  renameSync(source, `${source}.away`);
  process.env['LOUPE_INFERENCE'] = 'tfjs';
  t.after(() => {
    renameSync(`${source}.away`, source);
    delete process.env['LOUPE_INFERENCE'];
  });
  const cold = async (threads: number) => {
    for (const d of featureDirs()) rmSync(join(dir, 'project', 'cache', 'tensors', d), { recursive: true });
    const r = await train({ ...headOnly, threads });
    assert.equal(r.statuses.filter((s) => s.startsWith('Computing features')).at(-1), `Computing features ${IMAGES}/${IMAGES}`);
    return { ...r, features: readFileSync(join(dir, 'project', 'cache', 'tensors', featureDirs()[0]!, 'data.bin')) };
  };
  const [one, two] = [await cold(1), await cold(2)];
  assert.equal(two.features.length, one.features.length);
  const [a, b] = [new Float32Array(one.features.buffer, one.features.byteOffset, one.features.length / 4), new Float32Array(two.features.buffer, two.features.byteOffset, two.features.length / 4)];
  assert.ok(a.some((v) => v !== 0));
  assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1e-5), 'each image\'s feature vector, in cache order');
  assert.deepEqual(two.epochs.map((e) => e.trainLoss.toFixed(5)), one.epochs.map((e) => e.trainLoss.toFixed(5)));
});

test('a backbone without its source.onnx computes its features on onnxruntime from its TF.js model, as TF.js does', async (t) => {
  const source = join(dir, 'project', 'backbones', 'mnv2', 'source.onnx');
  renameSync(source, `${source}.away`);
  t.after(() => renameSync(`${source}.away`, source));
  const cold = async (env: string | undefined) => {
    for (const d of featureDirs()) rmSync(join(dir, 'project', 'cache', 'tensors', d), { recursive: true });
    if (env) process.env['LOUPE_INFERENCE'] = env;
    try {
      const r = await train(headOnly);
      return { ...r, features: readFileSync(join(dir, 'project', 'cache', 'tensors', featureDirs()[0]!, 'data.bin')) };
    } finally {
      delete process.env['LOUPE_INFERENCE'];
    }
  };
  const [onnx, tfjs] = [await cold(undefined), await cold('tfjs')];
  // The ONNX file is gone, so its engine cannot open; the run says that the converted model computed them instead.
  const warnings = async (runId: number) => (await core.dispatch('runs:get', { runId })).run.warnings;
  assert.match((await warnings(onnx.runId)).join(), /The backbone's ONNX file could not be used \(source\.onnx is missing from the backbone's folder\); its TF\.js model computes the features on onnxruntime instead/);
  assert.match((await warnings(tfjs.runId)).join(), /onnxruntime could not compute the features \(source\.onnx is missing from the backbone's folder\); computing them on TF\.js instead/);
  const [a, b] = [new Float32Array(onnx.features.buffer, onnx.features.byteOffset, onnx.features.length / 4), new Float32Array(tfjs.features.buffer, tfjs.features.byteOffset, tfjs.features.length / 4)];
  assert.equal(a.length, b.length);
  assert.ok(b.some((v) => v !== 0));
  assert.ok(maxDifference(a, b) <= AGREEMENT, `max scaled |Δ| ${maxDifference(a, b)}`);
});

test('another preprocessing or another backbone misses the cache', async () => {
  const before = featureDirs();
  // The same network imported with another preset: same weights, other normalization.
  await core.dispatch('backbones:import', { path: join(fixtures, 'mobilenetv2-tiny.onnx'), name: 'mnv2-unit', preprocess: 'unit' });
  const unit = await train({ ...headOnly, backbone: 'mnv2-unit', epochs: 1, headEpochs: 1 });
  assert.ok(unit.statuses.includes(`Computing features ${IMAGES}/${IMAGES}`));
  const letterbox = await train({ ...headOnly, resize: 'letterbox', epochs: 1, headEpochs: 1 });
  assert.ok(letterbox.statuses.includes(`Computing features ${IMAGES}/${IMAGES}`));
  await core.dispatch('backbones:import', { path: join(fixtures, 'densenet-tiny.onnx'), name: 'dense' });
  const other = await train({ ...headOnly, backbone: 'dense', epochs: 1, headEpochs: 1 });
  assert.ok(other.statuses.includes(`Computing features ${IMAGES}/${IMAGES}`));
  assert.equal(featureDirs().length, before.length + 3);
});

test('augmentation trains on images; a cached head phase is followed by fine-tuning on images', async () => {
  const augmented = await train({ ...headOnly, epochs: 1, headEpochs: 1, augment: { hflip: true } });
  assert.ok(!augmented.statuses.some((s) => s.startsWith('Computing features') || s.startsWith('Features of all')));
  const tuned = await train({ ...headOnly, epochs: 2, headEpochs: 1, unfreezeBlocks: 1, fineTuneLrFactor: 0.1 });
  assert.equal(tuned.epochs.length, 2);
  // The head phase's first epoch is the cached one above (same seed, same data): the same loss.
  const headRun = await train({ ...headOnly, epochs: 1, headEpochs: 1 });
  assert.ok(Math.abs(tuned.epochs[0]!.valLoss! - headRun.epochs[0]!.valLoss!) < 1e-6);
  assert.ok(Number.isFinite(tuned.epochs[1]!.valLoss!));
});

test('a head-only run on cached features stopped after an epoch resumes to the same weights', async () => {
  const whole = await train(headOnly);
  const [run] = createRuns(core.requireProject(), { config: headOnly }, 'test');
  const controller = new AbortController();
  const first = await runTraining(core.requireProject(), run!.id, {
    mode: 'start',
    backend: 'wasm',
    signal: controller.signal,
    events: { epoch: (m) => m.epoch === 0 && controller.abort() },
  });
  assert.equal(first.status, 'stopped');
  const second = await runTraining(core.requireProject(), run!.id, { mode: 'resume', backend: 'wasm' });
  assert.equal(second.status, 'finished', second.message);
  const [a, b] = [await headKernel(whole.runId), await headKernel(run!.id)];
  assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1e-5), 'the resumed head differs from the uninterrupted one');
});
