// Real training on real images: the sample generator writes radiographs, the importer decodes them with sharp,
// and runs train on the wasm backend with Loupe's gradient kernels, in this process (the same code the
// training process runs).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { fit } from '../../electron/core/training/fit.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import { createRuns, rerun } from '../../electron/core/training/run-service.ts';
import { getRun, runDir, runEpochs } from '../../electron/core/training/runs.ts';
import { loadModel, checkpointDir } from '../../electron/core/training/checkpoint.ts';
import { TensorCache, cacheKey } from '../../electron/core/training/tensor-cache.ts';
import type { Project } from '../../electron/core/project/project.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { tempDir } from '../helpers/tmp.ts';

let project: Project;
let core: LoupeCore;
/** The run trained by the first test, evaluated by the later ones. */
let trainedRunId = 0;

const small: TrainConfigInput = {
  arch: 'cnn',
  imageSize: 32,
  channels: 1,
  epochs: 3,
  batchSize: 16,
  dropout: 0,
  optimizer: { kind: 'adam', lr: 0.003 },
  augment: {},
  earlyStopping: null,
  seed: 7,
};

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const dir = tempDir();
  await writeSampleImages(join(dir, 'images'), { perClass: 24, signal: new AbortController().signal, progress: () => {} });
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  project = core.openProject(join(dir, 'project'), { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  await core.dispatch('splits:assign', { ratios: [0.7, 0.3, 0], seed: 1 });
});

test('a run trains: callback order, falling loss, checkpoints, stored preprocessing, flat memory', async () => {
  const [run] = createRuns(project, { config: small }, 'test');
  const events: string[] = [];
  const tensors: number[] = [];
  const batchLosses: number[] = [];
  const result = await runTraining(project, run!.id, {
    mode: 'start',
    backend: 'wasm',
    events: {
      status: () => events.push('status'),
      prepare: () => events.includes('prepare') || events.push('prepare'),
      batch: (m) => {
        if (!events.length || events[events.length - 1] !== 'batch') events.push('batch');
        batchLosses.push(m.loss);
        assert.ok(m.batch >= 1 && m.batch <= m.batches);
      },
      epoch: () => {
        events.push('epoch');
        tensors.push(tf.memory().numTensors);
      },
    },
  });
  assert.equal(result.status, 'finished', result.message);
  assert.deepEqual(events, ['status', 'prepare', 'status', 'batch', 'epoch', 'batch', 'epoch', 'batch', 'epoch']);
  const epochs = runEpochs(project.db, run!.id);
  assert.deepEqual(epochs.map((e) => e.epoch), [0, 1, 2]);
  assert.ok(epochs[2]!.trainLoss < epochs[0]!.trainLoss, `loss ${epochs.map((e) => e.trainLoss)}`);
  assert.ok(epochs.every((e) => e.valAccuracy !== null && e.imagesPerSecond > 0));
  assert.equal(new Set(tensors).size, 1, `tensors per epoch: ${tensors}`);
  const info = getRun(project.db, run!.id);
  trainedRunId = run!.id;
  assert.equal(info.status, 'finished');
  assert.equal(info.epochsDone, 3);
  assert.equal(info.preprocessing?.imageSize, 32);
  assert.equal(info.preprocessing?.normalization.mean.length, 1);
  assert.ok(info.preprocessing!.normalization.std[0]! > 0.01);
  const dir = runDir(project, run!.id);
  for (const f of ['best/model.json', 'best/weights.bin', 'last/model.json', 'last/optimizer.json', 'last/optimizer.bin']) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  const model = await loadModel(checkpointDir(dir, 'best'));
  const out = model.predict(tf.zeros([2, 32, 32, 1])) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 3]);
  const sums = await tf.sum(out, 1).data();
  sums.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-4));
  tf.dispose([out]);
  model.dispose();
  // Every training image is in the tensor cache now: a second run decodes nothing.
  const cache = new TensorCache(project.cacheDir, { imageSize: 32, channels: 1, resize: 'squash' });
  assert.equal(cache.size, 72);
  cache.close();
  assert.ok(readdirSync(join(project.cacheDir, 'tensors')).includes(cacheKey({ imageSize: 32, channels: 1, resize: 'squash' })));
});

test('stop after an epoch, then resume: the same final weights as one uninterrupted run', async () => {
  const [whole] = createRuns(project, { config: { ...small, epochs: 4 } }, 'test');
  assert.equal((await runTraining(project, whole!.id, { mode: 'start', backend: 'wasm' })).status, 'finished');
  const split = rerun(project, whole!.id, 'test');
  const controller = new AbortController();
  const first = await runTraining(project, split.id, {
    mode: 'start',
    backend: 'wasm',
    signal: controller.signal,
    events: { epoch: (m) => m.epoch === 1 && controller.abort() },
  });
  assert.equal(first.status, 'stopped');
  assert.equal(getRun(project.db, split.id).epochsDone, 2);
  const second = await runTraining(project, split.id, { mode: 'resume', backend: 'wasm' });
  assert.equal(second.status, 'finished', second.message);
  assert.equal(getRun(project.db, split.id).epochsDone, 4);
  const a = await loadModel(checkpointDir(runDir(project, whole!.id), 'last'));
  const b = await loadModel(checkpointDir(runDir(project, split.id), 'last'));
  const wa = a.getWeights();
  const wb = b.getWeights();
  assert.equal(wa.length, wb.length);
  for (let i = 0; i < wa.length; i++) {
    const diff = (await tf.max(tf.abs(tf.sub(wa[i]!, wb[i]!))).data())[0]!;
    assert.ok(diff < 1e-5, `weight ${i} differs by ${diff}`);
  }
  a.dispose();
  b.dispose();
});

test('NaN loss stops the fit with a clear message before the broken weights are checkpointed', async () => {
  // ReLU layers on wasm turn NaN into 0, so a dense softmax model on NaN inputs makes the NaN reach the loss.
  const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [4, 4, 1] }), tfl.layers.dense({ units: 2, activation: 'softmax' })] });
  const xs = new Float32Array(8 * 16).fill(0.5);
  xs[20] = NaN;
  const source = { size: 8, shape: [4, 4, 1] as [number, number, number], *batches() { yield { xs, ys: new Int32Array(8), n: 8 }; } };
  let checkpoints = 0;
  const end = await fit(model, source, null, {
    epochs: 3, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1, momentum: 0, nesterov: false }, schedule: { kind: 'constant' },
    earlyStopping: null, weightDecay: 0, classWeights: null, numClasses: 2,
    onCheckpoint: async () => { checkpoints++; },
  });
  assert.equal(end.status, 'nan');
  assert.match(end.message, /loss became NaN at epoch 1, batch 1: lower the learning rate/);
  assert.equal(checkpoints, 0);
  model.dispose();
});

test('evaluation: metrics match the stored predictions, cells filter the grid, relabeling marks it stale', async () => {
  const runId = trainedRunId;
  const { evaluationId, n } = await runEvaluation(project, { runId, split: 'val' });
  const ev = await core.dispatch('evaluations:get', { evaluationId });
  const m = ev.metrics!;
  assert.equal(n, 21);
  assert.equal(ev.stale, 0);
  assert.deepEqual(ev.classes, ['effusion', 'normal', 'pneumonia']);
  assert.equal(m.confusionMatrix.matrix.flat().reduce((a, b) => a + b, 0), 21);
  // Every cell of the matrix is exactly the images the grid shows for it.
  for (let t = 0; t < 3; t++) {
    for (let p = 0; p < 3; p++) {
      const cell = await core.dispatch('images:query', { filter: { evaluation: { id: evaluationId, label: t, predicted: p } } });
      assert.equal(cell.total, m.confusionMatrix.matrix[t]![p], `cell ${t},${p}`);
      for (const it of cell.items) assert.equal(it.prediction?.predicted, p);
    }
  }
  const correct = m.confusionMatrix.matrix.reduce((a, row, i) => a + row[i]!, 0);
  assert.ok(Math.abs(m.accuracy - correct / 21) < 1e-12);
  const losses = await core.dispatch('images:query', { filter: { evaluation: { id: evaluationId } }, sort: 'loss' });
  const lp = losses.items.map((i) => i.prediction!.labelProbability!);
  assert.deepEqual(lp, [...lp].sort((a, b) => a - b), 'top losses first');
  await assert.rejects(core.dispatch('images:query', { sort: 'loss' }), /needs an evaluation filter/);

  // Relabel one evaluated image: the evaluation says it is stale, and its numbers stay as they were.
  const first = losses.items[0]!;
  const other = (first.prediction!.label! + 1) % 3;
  const classes = await core.dispatch('classes:list', {});
  await core.dispatch('labels:set', { imageIds: [first.id], classId: classes.find((c) => c.name === ev.classes[other])!.id });
  const after = await core.dispatch('evaluations:get', { evaluationId });
  assert.equal(after.stale, 1);
  assert.deepEqual(after.metrics, ev.metrics);
  await core.dispatch('labels:undo', {});
  assert.equal((await core.dispatch('evaluations:get', { evaluationId })).stale, 0);
});

test('model-assisted labeling: predictions on unlabeled images, accept above a threshold, undo', async () => {
  const runId = trainedRunId;
  const victims = (await core.dispatch('images:query', { filter: { split: 'train' }, limit: 6 })).items.map((i) => i.id);
  const labelsBefore = await core.dispatch('labels:exportCsv', {});
  await core.dispatch('labels:set', { imageIds: victims, classId: null });
  const { evaluationId, n } = await runEvaluation(project, { runId, split: 'unlabeled' });
  assert.equal(n, 6);
  const ev = await core.dispatch('evaluations:get', { evaluationId });
  assert.equal(ev.metrics, null);
  const byUncertainty = await core.dispatch('images:query', { filter: { evaluation: { id: evaluationId } }, sort: 'uncertainty' });
  assert.equal(byUncertainty.total, 6);
  const r = await core.dispatch('suggestions:accept', { evaluationId, minConfidence: 0 });
  assert.equal(r.changed, 6);
  assert.equal((await core.dispatch('images:query', { filter: { unlabeled: true } })).total, 0);
  assert.equal((await core.dispatch('evaluations:get', { evaluationId })).stale, 6);
  await core.dispatch('labels:undo', {});
  assert.equal((await core.dispatch('images:query', { filter: { unlabeled: true } })).total, 6);
  await core.dispatch('labels:undo', {});
  assert.equal((await core.dispatch('labels:exportCsv', {})).csv, labelsBefore.csv);
  await assert.rejects(core.dispatch('suggestions:accept', { evaluationId }), (e: any) => e.code === 'VALIDATION');
});

test('evaluation maps classes by name: a class added since the run is left out and reported', async () => {
  const extra = await core.dispatch('classes:create', { name: 'nodule' });
  const val = (await core.dispatch('images:query', { filter: { split: 'val' }, limit: 3 })).items.map((i) => i.id);
  await core.dispatch('labels:set', { imageIds: val, classId: extra.id });
  const { evaluationId, n, notes } = await runEvaluation(project, { runId: trainedRunId, split: 'val' });
  assert.equal(n, 21 - 3);
  assert.ok(notes.some((m) => /3 images of class "nodule" left out: the run was trained without that class/.test(m)), notes.join(' | '));
  const ev = await core.dispatch('evaluations:get', { evaluationId });
  assert.deepEqual(ev.classes, ['effusion', 'normal', 'pneumonia']);
  assert.equal(ev.metrics!.n, 18);
  await core.dispatch('labels:undo', {});
  await core.dispatch('classes:delete', { id: extra.id, labeledImages: 'unlabel' });
});

test('evaluation refuses a run without a model, and a split without labeled images', async () => {
  const [fresh] = createRuns(project, { config: small }, 'test');
  await assert.rejects(core.dispatch('evaluations:run', { runId: fresh!.id, split: 'val' }), /no trained model/);
  await assert.rejects(runEvaluation(project, { runId: trainedRunId, split: 'test' }), /test split has no labeled images/);
  const before = project.db.prepare('SELECT COUNT(*) FROM evaluations').pluck().get();
  assert.ok(Number(before) >= 2);
});

test('bad datasets are refused before a run is created', async () => {
  const dir = tempDir();
  const c = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const p = c.openProject(join(dir, 'p'), { create: true });
  await c.dispatch('classes:create', { name: 'only' });
  assert.throws(() => createRuns(p, { config: small }, 'test'), /at least 2 classes/);
  await c.shutdown();
});
