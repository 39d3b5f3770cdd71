// Transfer learning on real data: the seed's custom CNN trained on Fashion-MNIST classes 0–4 becomes the backbone for classes
// 5–9 with only 50 training images per class, and must beat the same network trained from scratch on them.
// Real PNG files, real import, real training on wasm, in this process (the training process runs the same code).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { checkpointDir } from '../../electron/core/training/checkpoint-paths.ts';
import { runDir } from '../../electron/core/training/runs.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { FASHION_MNIST_DIR, fashionRecipe, writeFashionSubset as writeSubset } from '../helpers/fashion-mnist.ts';
import { tempDir } from '../helpers/tmp.ts';
import { projectWithImages, valAccuracy } from '../helpers/image-project.ts';

const present = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
let dir = '';

const base: TrainConfigInput = {
  ...fashionRecipe,
  arch: 'cnn',
  imageSize: 28,
  channels: 1,
};

before(async () => {
  if (!present) return;
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  await writeSubset(join(dir, 'a'), [0, 1, 2, 3, 4], 1000, 0, 0);
  await writeSubset(join(dir, 'b'), [5, 6, 7, 8, 9], 50, 120, 30_000);
});

test('a backbone from classes 0–4 beats training from scratch on 50 images per class of classes 5–9', { skip: !present && 'dataset-fashion-mnist is not installed' }, async () => {
  // Train the backbone on classes 0–4 (train split only: there is no val folder, so every epoch is kept).
  const a = await projectWithImages(dir, 'project-a', join(dir, 'a'));
  const [backboneRun] = createRuns(a.requireProject(), { config: { ...base, epochs: 5 } }, 'test');
  assert.equal((await runTraining(a.requireProject(), backboneRun!.id, { mode: 'start', backend: 'wasm' })).status, 'finished');
  const backboneDir = checkpointDir(runDir(a.requireProject(), backboneRun!.id), 'best');
  await a.shutdown();

  const b = await projectWithImages(dir, 'project-b', join(dir, 'b'));
  const imported = await b.dispatch('backbones:import', { path: backboneDir, name: 'fashion-0-4' });
  assert.deepEqual([imported.imageSize, imported.channels], [28, 1]);
  assert.deepEqual((await b.dispatch('backbones:list', {})).map((x) => x.name), ['fashion-0-4']);

  const scratch = await valAccuracy(b, { ...base, epochs: 5 });
  // One head-only epoch, then the last two backbone blocks fine-tuned at half the rate. Seeded, and the training
  // order follows image content, so the numbers repeat: 0.918 vs 0.875 from scratch (0.890 vs 0.863 at 3 epochs).
  const transfer = await valAccuracy(b, { ...base, arch: 'backbone', backbone: 'fashion-0-4', epochs: 5, headEpochs: 1, unfreezeBlocks: 2, fineTuneLrFactor: 0.5 });
  assert.ok(transfer > scratch, `transfer ${transfer.toFixed(3)} should beat scratch ${scratch.toFixed(3)}`);
  await b.shutdown();
});

test('a backbone folder that is not a LayersModel, or whose weights do not match, is refused', { skip: !present && 'dataset-fashion-mnist is not installed' }, async () => {
  const c = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  c.openProject(join(dir, 'project-c'), { create: true });
  const bad = join(dir, 'bad-backbone');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: null }));
  await assert.rejects(c.dispatch('backbones:import', { path: bad }), /not a TF\.js LayersModel/);
  await assert.rejects(c.dispatch('backbones:import', { path: join(dir, 'nowhere') }), /no model\.json/);
  await c.shutdown();
});
