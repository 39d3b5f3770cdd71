// Issue 12, the product path: `backbones:import` of an .onnx file converts it, checks it against onnxruntime,
// stores the network up to its feature layer with its preprocessing, and `--arch backbone:NAME` fine-tunes it
// with the transfer path that exists (real project, real PNGs through sharp, real training steps on wasm). Plus
// backbone hygiene on import: plain names only, files only inside the project's backbones/, no symlinks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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
import { LoupeError } from '../../shared/contract.ts';
import { tinyClassifier } from '../helpers/onnx-graphs.ts';
import { tempDir } from '../helpers/tmp.ts';
import { projectWithImages } from '../helpers/image-project.ts';
import { writeShapeImages } from '../helpers/shape-images.ts';

const fixtures = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
let dir = '';
let core: LoupeCore;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  await writeShapeImages(join(dir, 'images'), 16);
  core = await projectWithImages(dir, 'project', join(dir, 'images'));
});

test('an imported ONNX network is stored with its preprocessing and fine-tunes for an epoch', async () => {
  const b = await core.dispatch('backbones:import', { path: join(fixtures, 'resnet18-tiny.onnx'), name: 'resnet-tiny', preprocess: 'imagenet' });
  assert.deepEqual([b.name, b.source, b.imageSize, b.channels], ['resnet-tiny', 'imported', 32, 3]);
  assert.equal(b.description, 'resnet18-tiny.onnx (ONNX, 10-class classifier dropped, imagenet preprocessing)');
  const folder = join(dir, 'project', 'backbones', 'resnet-tiny');
  assert.deepEqual(readdirSync(folder).sort(), ['backbone.json', 'model.json', 'source.onnx', 'weights.bin']);
  const meta = JSON.parse(readFileSync(join(folder, 'backbone.json'), 'utf8'));
  assert.deepEqual(meta.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  assert.equal(meta.channelOrder, 'rgb');
  assert.equal(meta.greyToRgb, true);
  assert.equal(meta.source.file, 'resnet18-tiny.onnx'); // no absolute path in the project's files
  assert.ok(!JSON.stringify(meta).includes(fixtures));
  assert.ok(meta.verification.maxAbsDiff <= 1e-4);
  // The classifier is dropped: the stored model ends at the feature layer (the 64 pooled channels).
  const stored = await loadModel(folder);
  assert.deepEqual(stored.outputs[0]!.shape, [null, 64]);
  assert.equal(stored.layers.at(-1)!.name, meta.featureLayer);
  const storedConv = stored.layers.find((l) => l.getClassName() === 'Conv2D')!;
  const before = storedConv.getWeights()[0]!.dataSync().slice();
  assert.deepEqual((await core.dispatch('backbones:list', {})).map((x) => x.name), ['resnet-tiny']);

  const [run] = createRuns(core.requireProject(), { config: { arch: 'backbone', backbone: 'resnet-tiny', epochs: 1, headEpochs: 1, batchSize: 8, dropout: 0, augment: {}, earlyStopping: null, seed: 1 } }, 'test');
  const result = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm' });
  assert.equal(result.status, 'finished', result.message);
  const detail = await core.dispatch('runs:get', { runId: run!.id });
  assert.equal(detail.epochs.length, 1);
  assert.ok(Number.isFinite(detail.epochs[0]!.trainLoss));
  // Trained with the backbone's preprocessing, and the frozen backbone's weights are the imported ones.
  assert.deepEqual(detail.run.preprocessing!.normalization.mean, [0.485, 0.456, 0.406]);
  assert.equal(detail.run.preprocessing!.imageSize, 32);
  const trained = await loadModel(checkpointDir(runDir(core.requireProject(), run!.id), 'best'));
  const trainedConv = trained.getLayer(storedConv.name);
  assert.deepEqual(trainedConv.getWeights()[0]!.dataSync(), before);
  assert.equal(trained.outputs[0]!.shape[1], 2);
});

test('the minus-one-one preset and a declared input size are stored; an unknown preset is refused', async () => {
  const dynamic = join(dir, 'dynamic.onnx');
  writeFileSync(dynamic, tinyClassifier({ inputShape: ['N', 3, 'H', 'W'] }));
  await assert.rejects(core.dispatch('backbones:import', { path: dynamic, name: 'dyn' }), /--image-size/);
  const b = await core.dispatch('backbones:import', { path: dynamic, name: 'dyn', preprocess: 'minus-one-one', imageSize: 24 });
  assert.equal(b.imageSize, 24);
  const meta = JSON.parse(readFileSync(join(dir, 'project', 'backbones', 'dyn', 'backbone.json'), 'utf8'));
  assert.deepEqual(meta.normalization, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  await assert.rejects(core.dispatch('backbones:import', { path: dynamic, name: 'dyn2', preprocess: 'zscore' }), (e: unknown) => e instanceof LoupeError && e.code === 'VALIDATION');
});

test('bad ONNX files add nothing to the project', async () => {
  const before = readdirSync(join(dir, 'project', 'backbones')).sort();
  const cases: [string, Uint8Array, RegExp][] = [
    ['text.onnx', new TextEncoder().encode('not a model'), /Not a usable ONNX model/],
    ['cut.onnx', new Uint8Array(readFileSync(join(fixtures, 'densenet-tiny.onnx'))).subarray(0, 5000), /truncated/],
    ['elu.onnx', tinyClassifier({ act: 'Elu' }), /Unsupported ONNX operator Elu/],
    ['old.onnx', tinyClassifier({ opset: 7 }), /opset 7, older/],
  ];
  for (const [file, bytes, message] of cases) {
    writeFileSync(join(dir, file), bytes);
    await assert.rejects(core.dispatch('backbones:import', { path: join(dir, file), name: 'bad' }), message, file);
  }
  assert.deepEqual(readdirSync(join(dir, 'project', 'backbones')).sort(), before);
});

test('the import runs as a job in a training process: progress from that process, and Cancel stops it with nothing added', async () => {
  const before = readdirSync(join(dir, 'project', 'backbones')).sort();
  const { jobId } = await core.dispatch('backbones:importStart', { path: join(fixtures, 'resnet18-tiny.onnx'), name: 'canceled' });
  // Canceled once the training process reports its first step: the conversion is under way there.
  const messages: string[] = [];
  await new Promise<void>((resolve) => {
    const off = core.jobs.subscribe((j) => {
      if (j.jobId !== jobId) return;
      messages.push(j.message);
      if (/^Reading /.test(j.message)) {
        off();
        core.jobs.cancel(jobId);
        resolve();
      }
    });
  });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'canceled', `${job.state}: ${job.message} after ${messages.join(' | ')}`);
  assert.deepEqual(readdirSync(join(dir, 'project', 'backbones')).sort(), before);
  // The next import, through the same job, completes with the backbone's summary as its result.
  const next = await core.jobs.wait((await core.dispatch('backbones:importStart', { path: join(fixtures, 'resnet18-tiny.onnx'), name: 'after-cancel' })).jobId);
  assert.equal(next.state, 'succeeded', next.message);
  assert.deepEqual((next.result as { name: string }).name, 'after-cancel');
});

test('a backbone name is a plain file name: nothing is written outside backbones/', async () => {
  const onnx = join(fixtures, 'densenet-tiny.onnx');
  for (const name of ['../../x', '../escape', 'a/b', 'a\\b', '..', '.hidden', 'con', 'x\u0000y']) {
    await assert.rejects(core.dispatch('backbones:import', { path: onnx, name }), /cannot name a backbone/, name);
  }
  assert.ok(!existsSync(join(dir, 'x')) && !existsSync(join(dir, 'project', 'escape')));
  await core.dispatch('backbones:import', { path: onnx, name: 'dense net-1' });
  await assert.rejects(core.dispatch('backbones:import', { path: onnx, name: 'dense net-1' }), /already imported/);
});

test('symlinks are refused: a linked model file, a linked weights file, a linked backbones/ folder', async () => {
  const real = join(dir, 'real.onnx');
  copyFileSync(join(fixtures, 'densenet-tiny.onnx'), real);
  symlinkSync(real, join(dir, 'link.onnx'));
  await assert.rejects(core.dispatch('backbones:import', { path: join(dir, 'link.onnx'), name: 'linked' }), /symbolic link/);

  // A TF.js folder (the one just imported) whose weights file is a symlink to a file elsewhere.
  const src = join(dir, 'project', 'backbones', 'dense net-1');
  const folder = join(dir, 'tfjs-folder');
  mkdirSync(folder);
  copyFileSync(join(src, 'model.json'), join(folder, 'model.json'));
  symlinkSync(join(src, 'weights.bin'), join(folder, 'weights.bin'));
  await assert.rejects(core.dispatch('backbones:import', { path: folder, name: 'linked-weights' }), /weights\.bin is a symbolic link/);
  // A manifest naming a file outside its folder.
  const json = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = ['../real.onnx'];
  writeFileSync(join(folder, 'model.json'), JSON.stringify(json));
  await assert.rejects(core.dispatch('backbones:import', { path: folder, name: 'outside' }), /outside its folder/);
  assert.ok(!existsSync(join(dir, 'project', 'backbones', 'linked-weights')) && !existsSync(join(dir, 'project', 'backbones', 'outside')));

  const other = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  other.openProject(join(dir, 'project-2'), { create: true });
  mkdirSync(join(dir, 'elsewhere'));
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'project-2', 'backbones'));
  await assert.rejects(other.dispatch('backbones:import', { path: real, name: 'ok' }), /backbones is a symbolic link/);
  assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);
  await other.shutdown();
});
