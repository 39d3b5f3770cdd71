// Issue 12: a pretrained network brought as an ONNX file pays off. A small MobileNetV2 trained in PyTorch on
// Fashion-MNIST classes 0–4 (tests/fixtures/onnx, made by scripts/make-onnx-fixtures.py) is imported and
// fine-tuned on classes 5–9 with 50 images per class, as a hospital would fine-tune an ImageNet network on its own
// classes; it must beat the same network trained from scratch on them (its untrained export, all layers
// trainable). Grey PNGs become the network's 3 channels. Real import, real training on wasm.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { FASHION_MNIST_DIR, writeFashionSubset } from '../helpers/fashion-mnist.ts';
import { tempDir } from '../helpers/tmp.ts';

const fixtures = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
const present = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
let dir = '';
let core: LoupeCore;

const base: TrainConfigInput = {
  arch: 'backbone',
  epochs: 5,
  batchSize: 32,
  dropout: 0,
  optimizer: { kind: 'adam', lr: 0.002 },
  augment: {},
  earlyStopping: null,
  seed: 3,
};

before(async () => {
  if (!present) return;
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  await writeFashionSubset(join(dir, 'images'), [5, 6, 7, 8, 9], 50, 120, 30_000);
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  core.openProject(join(dir, 'project'), { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
  assert.equal((await core.jobs.wait(jobId)).state, 'succeeded');
});

test('an ONNX network pretrained on classes 0–4 beats the same network from scratch on 50 images per class of 5–9', { skip: !present && 'dataset-fashion-mnist is not installed' }, async (t) => {
  await core.dispatch('backbones:import', { path: join(fixtures, 'mobilenetv2-fashion-0-4.onnx'), name: 'pretrained', preprocess: 'imagenet' });
  await core.dispatch('backbones:import', { path: join(fixtures, 'mobilenetv2-fashion-random.onnx'), name: 'untrained', preprocess: 'imagenet' });
  const accuracyOf = async (config: TrainConfigInput) => {
    const [run] = createRuns(core.requireProject(), { config }, 'test');
    const r = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm' });
    assert.equal(r.status, 'finished', r.message);
    const { evaluationId } = await runEvaluation(core.requireProject(), { runId: run!.id, split: 'val' });
    return (await core.dispatch('evaluations:get', { evaluationId })).metrics!.accuracy;
  };
  // From scratch: no head-only phase, every block trains at the full rate.
  const scratch = await accuracyOf({ ...base, backbone: 'untrained', headEpochs: 0, unfreezeBlocks: 100, fineTuneLrFactor: 1 });
  // Pretrained: two head epochs on cached features, then the last blocks fine-tuned at half the rate.
  const transfer = await accuracyOf({ ...base, backbone: 'pretrained', headEpochs: 2, unfreezeBlocks: 3, fineTuneLrFactor: 0.5 });
  t.diagnostic(`val accuracy: pretrained ${transfer.toFixed(3)}, from scratch ${scratch.toFixed(3)}`);
  assert.ok(transfer > scratch + 0.05, `transfer ${transfer.toFixed(3)} should beat scratch ${scratch.toFixed(3)}`);
});
