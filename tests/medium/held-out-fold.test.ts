// A k-fold run's validation images are its held-out fold, the images that judge it (issue 17): they are measured
// each epoch but never choose the kept epoch, stop training early or steer the learning rate. Shown on a fit whose
// validation set is its own training images with other labels, so the validation loss rises as training succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { fit, type BatchSource } from '../../electron/core/training/fit.ts';
import { buildModel } from '../../electron/core/training/models.ts';
import { trainConfigSchema } from '../../shared/training.ts';
import { seededRandom } from '../../shared/random.ts';

function source(labelShift: number): BatchSource {
  const random = seededRandom(4);
  const n = 48;
  const xs = Float32Array.from({ length: n * 256 }, () => random() * 2 - 1);
  const ys = Int32Array.from({ length: n }, (_, i) => (i + labelShift) % 3);
  return { size: n, shape: [16, 16, 1], batches: () => [{ xs, ys, n }] };
}

async function run(heldOut: boolean) {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const model = buildModel(trainConfigSchema.parse({ arch: 'lenet5', imageSize: 16, channels: 1, dropout: 0, seed: 2 }), 3);
  const improved: boolean[] = [];
  const lrs: number[] = [];
  const end = await fit(model, source(0), source(1), {
    epochs: 12,
    batchSize: 48,
    optimizer: { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999 },
    schedule: { kind: 'plateau', factor: 0.5, patience: 1, minLrFactor: 0.01 },
    earlyStopping: { monitor: 'val_loss', patience: 2 },
    weightDecay: 0,
    classWeights: null,
    numClasses: 3,
    heldOut,
    onEpochEnd: (m, info) => {
      improved.push(info.improved);
      lrs.push(m.lr);
    },
  });
  model.dispose();
  return { end, improved, lrs };
}

test('a held-out fold never chooses the epoch, stops training or lowers the rate; ordinary validation does', async () => {
  const plain = await run(false);
  assert.equal(plain.end.status, 'early-stopped', 'the rising validation loss stops an ordinary run');
  assert.ok(plain.improved.includes(false));
  const fold = await run(true);
  assert.equal(fold.end.status, 'finished');
  assert.equal(fold.improved.length, 12);
  assert.ok(fold.improved.every(Boolean), 'every epoch replaces the kept model: the last one is judged');
  // The plateau schedule follows the training loss, which keeps falling: the rate stays.
  assert.deepEqual(new Set(fold.lrs), new Set([0.01]));
});
