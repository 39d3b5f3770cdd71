// How a training step is planned to fit a wasm thread's heap (step-memory.ts), from layer shapes: the plans behind
// the measured cases (the compact ResNet at 224 px, the custom CNN at 512 px) and the advice when nothing fits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationBytesPerImage, BatchTooLarge, isHeapExhausted, passFactor, planStep } from '../../electron/core/training/step-memory.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

interface FakeLayer {
  outputShape: unknown;
  layers?: FakeLayer[];
  weights: { shape: number[] }[];
  getClassName(): string;
}

/** A layer with an output of `bytes` per image (float32), as tfjs-layers describes one. */
function layer(bytes: number, nested?: FakeLayer[]): FakeLayer {
  return { outputShape: [null, bytes / 4], layers: nested, weights: [], getClassName: () => 'Dense' };
}

test("a layer's output counts once per image; nested models and layers with several outputs count all theirs", () => {
  const two: FakeLayer = { outputShape: [[null, 8, 8, 2], [null, 4]], weights: [], getClassName: () => 'Split' };
  assert.equal(activationBytesPerImage([layer(400), layer(100, [layer(40)]), two]), 400 + 100 + 40 + 4 * (128 + 4));
});

test('a share that fits goes whole; a larger one in parts that fit the budget; machine memory bounds it too', () => {
  const resnet224 = [layer(89 * MiB)];
  const batch = { batchSize: 64, imageSize: 224, threads: 2 };
  // 1.75 GB a thread over 2.2 × 89 MB an image: 9 images a pass, for 32 a thread.
  assert.deepEqual({ ...planStep(resnet224, 0.7 * MiB, passFactor('resnet'), batch, 24 * GiB), plannedBytes: 0 }, { imagesPerPass: 9, share: 32, plannedBytes: 0 });
  assert.equal(planStep(resnet224, 0.7 * MiB, passFactor('resnet'), { ...batch, batchSize: 16 }, 24 * GiB).imagesPerPass, null);
  // 4 GB of memory shared by 2 threads leave each 1.2 GB: 6 images a pass.
  assert.equal(planStep(resnet224, 0.7 * MiB, passFactor('resnet'), batch, 4 * GiB).imagesPerPass, 6);
  // A CNN is planned at 6× its outputs, a backbone at 4×.
  assert.equal(planStep([layer(33 * MiB)], 0, passFactor('cnn'), batch, 24 * GiB).imagesPerPass, 9);
  assert.equal(planStep([layer(33 * MiB)], 0, passFactor('backbone'), batch, 24 * GiB).imagesPerPass, 13);
});

test('one image at a time when only the least measured factor fits it; refused, with what to lower, when not even that', () => {
  const batch = { batchSize: 32, imageSize: 512, threads: 1 };
  // 465 MB an image (the compact ResNet at 512 px): 2.2× is over the budget, 1.7× is not.
  assert.equal(planStep([layer(465 * MiB)], 0.7 * MiB, passFactor('resnet'), batch, 24 * GiB).imagesPerPass, 1);
  assert.throws(
    () => planStep([layer(33 * MiB)], 256 * MiB, passFactor('cnn'), batch, 24 * GiB),
    (e: unknown) => e instanceof BatchTooLarge && /^Out of memory: at 512 px this network has 256 MB of weights/.test(e.message),
  );
  assert.throws(
    () => planStep([layer(1200 * MiB)], 0, passFactor('resnet'), batch, 24 * GiB),
    (e: unknown) => e instanceof BatchTooLarge && /^Out of memory: one image at 512 px needs more than the 2 GB/.test(e.message),
  );
});

test("the engine's abort or out-of-bounds trap is taken for memory only on a step planned to fill half the budget", () => {
  const big = planStep([layer(89 * MiB)], 0, passFactor('resnet'), { batchSize: 64, imageSize: 224, threads: 2 }, 24 * GiB);
  const small = planStep([layer(7 * MiB)], 0, passFactor('resnet'), { batchSize: 64, imageSize: 64, threads: 2 }, 24 * GiB);
  assert.equal(isHeapExhausted('RuntimeError: Aborted(). Build with -sASSERTIONS for more info.', big), true);
  assert.equal(isHeapExhausted('a gradient thread failed: RuntimeError: memory access out of bounds', big), true);
  assert.equal(isHeapExhausted('RuntimeError: Aborted(). Build with -sASSERTIONS for more info.', small), false);
  assert.equal(isHeapExhausted('shapes do not match', big), false);
});
