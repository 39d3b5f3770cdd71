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
import type { TrainConfigInput } from '../../shared/training.ts';
import { FASHION_MNIST_DIR, fashionRecipe, writeFashionSubset } from '../helpers/fashion-mnist.ts';
import { tempDir } from '../helpers/tmp.ts';
import { projectWithImages, valAccuracy } from '../helpers/image-project.ts';

const fixtures = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
const present = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
let dir = '';
let core: LoupeCore;

const base: TrainConfigInput = {
  ...fashionRecipe,
  arch: 'backbone',
  epochs: 5,
};

before(async () => {
  if (!present) return;
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  await writeFashionSubset(join(dir, 'images'), [5, 6, 7, 8, 9], 50, 120, 30_000);
  core = await projectWithImages(dir, 'project', join(dir, 'images'));
});

test('an ONNX network pretrained on classes 0–4 beats the same network from scratch on 50 images per class of 5–9', { skip: !present && 'dataset-fashion-mnist is not installed' }, async (t) => {
  await core.dispatch('backbones:import', { path: join(fixtures, 'mobilenetv2-fashion-0-4.onnx'), name: 'pretrained', preprocess: 'imagenet' });
  await core.dispatch('backbones:import', { path: join(fixtures, 'mobilenetv2-fashion-random.onnx'), name: 'untrained', preprocess: 'imagenet' });
  // From scratch: no head-only phase, every block trains at the full rate.
  const scratch = await valAccuracy(core, { ...base, backbone: 'untrained', headEpochs: 0, unfreezeBlocks: 100, fineTuneLrFactor: 1 });
  // Pretrained: two head epochs on cached features, then the last blocks fine-tuned at half the rate.
  const transfer = await valAccuracy(core, { ...base, backbone: 'pretrained', headEpochs: 2, unfreezeBlocks: 3, fineTuneLrFactor: 0.5 });
  t.diagnostic(`val accuracy: pretrained ${transfer.toFixed(3)}, from scratch ${scratch.toFixed(3)}`);
  assert.ok(transfer > scratch + 0.05, `transfer ${transfer.toFixed(3)} should beat scratch ${scratch.toFixed(3)}`);
});
