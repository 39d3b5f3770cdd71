// Issue 12's networks at full size: torchvision ResNet-18/34/50, MobileNetV2, MobileNetV3-Small/Large,
// EfficientNet-B0 and DenseNet-121 (random weights, batch-norm statistics recomputed, 224 px, 1,000 classes), made
// into a cache folder by scripts/make-onnx-fixtures.py --full (Debian's python3-torchvision; skipped, saying so,
// only where it is absent). Each imports through `backbones:import` (converted, verified against onnxruntime,
// stored up to its feature layer) and reproduces torch's own recorded logits. Two of them (MobileNetV3-Small for
// HardSwish and squeeze-excite, EfficientNet-B0 for SiLU and the largest outputs) then fine-tune every layer for
// an epoch and go out again through Loupe's ONNX export; bench:transfer runs the round trip of the other six.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import type { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { convertGraph } from '../../electron/core/onnx-import/convert-graph.ts';
import { readOnnx } from '../../electron/core/onnx-import/onnx-read.ts';
import { allowedDifference, TOLERANCE } from '../../electron/core/onnx-import/verify.ts';
import { FULL_NETS, fineTuneAndReexport, fullNetsDir, fullNetsUnavailable, readExpected } from '../helpers/onnx-full.ts';
import { projectWithImages } from '../helpers/image-project.ts';
import { writeShapeImages } from '../helpers/shape-images.ts';
import { tempDir } from '../helpers/tmp.ts';

const unavailable = fullNetsUnavailable();
if (unavailable) console.error(`onnx-full-nets: skipped: ${unavailable}`);
let nets = '';
let dir = '';
let core: LoupeCore;

before(async () => {
  if (unavailable) return;
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  nets = fullNetsDir();
  dir = tempDir('loupe-onnx-full-');
  await writeShapeImages(join(dir, 'images'), 8);
  core = await projectWithImages(dir, 'project', join(dir, 'images'));
});

after(async () => {
  await core?.shutdown();
});

for (const name of FULL_NETS) {
  test(`${name}: imports, verified against onnxruntime, and reproduces torch's logits`, { skip: unavailable ?? false }, async () => {
    const b = await core.dispatch('backbones:import', { path: join(nets, `${name}.onnx`), name, preprocess: 'imagenet' });
    assert.deepEqual([b.imageSize, b.channels], [224, 3]);
    const meta = JSON.parse(readFileSync(join(dir, 'project', 'backbones', name, 'backbone.json'), 'utf8')) as {
      verification: { maxAbsDiff: number; maxAbsOutput: number; allowed: number };
    };
    const v = meta.verification;
    // The import held the conversion to the bound; a layout mistake would be off by orders of magnitude more.
    assert.ok(v.maxAbsDiff <= v.allowed, `${name}: ${v.maxAbsDiff} > ${v.allowed}`);
    assert.ok(v.maxAbsDiff / Math.max(1, v.maxAbsOutput) <= TOLERANCE / 5, `${name}: within a fifth of the bound (${JSON.stringify(v)})`);
    console.error(`${name}: max |output| ${v.maxAbsOutput.toFixed(2)}, max abs difference to onnxruntime ${v.maxAbsDiff.toExponential(2)} (allowed ${v.allowed.toExponential(2)})`);

    // torch's own logits for fixed inputs (NCHW), from the converted network (NHWC).
    const { expected, inputs } = readExpected(nets, name);
    const converted = convertGraph(readOnnx(new Uint8Array(readFileSync(join(nets, `${name}.onnx`)))));
    const { size, inputs: n } = expected;
    const out = tf.tidy(() => converted.model.predict(tf.transpose(tf.tensor4d(inputs, [n, 3, size, size]), [0, 2, 3, 1])) as tf.Tensor);
    const ours = (await out.array()) as number[][];
    out.dispose();
    converted.model.dispose();
    let diff = 0;
    let largest = 0;
    expected.outputs.forEach((row, i) =>
      row.forEach((value, j) => {
        diff = Math.max(diff, Math.abs(value - ours[i]![j]!));
        largest = Math.max(largest, Math.abs(value));
      }),
    );
    assert.ok(diff <= allowedDifference(largest), `${name}: max abs difference to torch ${diff} for outputs up to ${largest}`);
    // Outputs that depend on the input: two images' logits differ, so a layout mistake could not hide.
    const spread = Math.max(...expected.outputs[0]!.map((value, j) => Math.abs(value - expected.outputs[1]![j]!)));
    assert.ok(spread > 100 * allowedDifference(largest), `${name}: outputs for two inputs differ by only ${spread}`);
  });
}

for (const name of ['mobilenet_v3_small', 'efficientnet_b0'] as const) {
  test(`${name}: fine-tunes every layer for an epoch and exports to ONNX again with the same outputs`, { skip: unavailable ?? false }, async () => {
    const r = await fineTuneAndReexport(core, name, join(dir, `bundle-${name}`));
    assert.ok(r.firstConvChanged, 'the backbone trained, not only the head');
    assert.ok(Number.isFinite(r.trainLoss));
    assert.equal(r.outputs, 2 * 2, 'two images, the project\'s two classes');
    assert.ok(r.unsaturated, 'a probability that carries its logit gap, so agreeing on them means something');
    // Probabilities: 1e-4 as it stands.
    assert.ok(r.maxAbsDiff <= TOLERANCE, `re-exported ONNX differs from the fine-tuned model by ${r.maxAbsDiff}`);
    assert.ok(r.maxRelDiff <= 1e-3, `re-exported ONNX differs by ${r.maxRelDiff} of a probability`);
  });
}
