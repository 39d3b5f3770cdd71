// The full-size torchvision networks of issue 12 (random weights, 224 px), made once into a cache folder by
// scripts/make-onnx-fixtures.py --full with Debian's python3-torchvision, and the ONNX round trip both
// tests/medium/onnx-full-nets.test.ts and bench:transfer run on them: import → fine-tune every layer one epoch →
// Loupe's ONNX export → onnxruntime gives what the fine-tuned TF.js model gives.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import type { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { exportBundle } from '../../electron/core/export/bundle.ts';
import { collectRunFacts } from '../../electron/core/export/run-facts.ts';
import { loadModel } from '../../electron/core/training/checkpoint.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { seededRandom } from '../../shared/random.ts';

export const FULL_NETS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large', 'efficientnet_b0', 'densenet121'] as const;
export type FullNet = (typeof FULL_NETS)[number];

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'make-onnx-fixtures.py');

/** Why the full-size networks cannot be made here, or null when they can. */
export function fullNetsUnavailable(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return `python3-torchvision is absent (${PYTHON} cannot import torch, torchvision; Debian: apt install python3-torch python3-torchvision), so the full-size torchvision networks cannot be made`;
}

/**
 * The folder holding NAME.onnx and NAME.expected.json for `names`, made on first use. Keyed by the script's
 * content, so a changed script makes them again; `dir` puts them elsewhere (the bench's own tmp folder).
 */
export function fullNetsDir(names: readonly FullNet[] = FULL_NETS, dir?: string): string {
  const script = readFileSync(SCRIPT);
  const out = dir ?? join(tmpdir(), `loupe-onnx-full-${createHash('sha256').update(script).digest('hex').slice(0, 12)}`);
  const missing = names.filter((n) => !existsSync(join(out, `${n}.expected.json`)));
  if (missing.length) {
    mkdirSync(out, { recursive: true });
    const r = spawnSync(PYTHON, [SCRIPT, '--full', out, ...missing], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    assert.equal(r.status, 0, `make-onnx-fixtures.py --full failed:\n${r.stderr.slice(-3000)}`);
  }
  return out;
}

export interface FullNetExpected {
  size: number;
  inputs: number;
  classes: number;
  /** torch's logits for the folder's inputs.bin. */
  outputs: number[][];
}

export function readExpected(dir: string, name: FullNet): { expected: FullNetExpected; inputs: Float32Array } {
  const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as FullNetExpected;
  const inputs = new Float32Array(new Uint8Array(readFileSync(join(dir, 'inputs.bin'))).buffer);
  return { expected, inputs };
}

/**
 * The smallest probability whose relative difference the round trip checks. float32 holds any probability this size
 * to ~7 significant digits, so its relative difference is the difference of the logit gap behind it. Random
 * ResNet-50 weights answer 1 and ~1e-7 for the project's two classes (a 1e-6 floor saw nothing to compare there).
 */
export const INFORMATIVE_PROBABILITY = 1e-12;

export interface RoundTrip {
  runId: number;
  /** A convolution of the backbone's first block moved: every layer trained, not just the head. */
  firstConvChanged: boolean;
  trainLoss: number;
  /** Largest difference between onnxruntime on the exported model.onnx and TF.js on the run's model. */
  maxAbsDiff: number;
  outputs: number;
  /**
   * Largest difference relative to the probability (those above INFORMATIVE_PROBABILITY): a small probability is
   * exp(−logit gap), so this checks the logits behind probabilities near 0 and 1, where the absolute difference says
   * little.
   */
  maxRelDiff: number;
  /**
   * Some probability carries its logit gap: above INFORMATIVE_PROBABILITY and not ~1. Outputs of exactly 0 and 1
   * would agree whatever the graph computed.
   */
  unsaturated: boolean;
}

/**
 * Fine-tunes the imported backbone `backbone` with every layer trainable for one epoch on the project's images,
 * exports the run as ONNX with the product's bundle export, and runs both on the same random images.
 */
export async function fineTuneAndReexport(core: LoupeCore, backbone: string, outDir: string): Promise<RoundTrip> {
  const project = core.requireProject();
  // A small plain-SGD step: every weight moves, but not so far that the probabilities saturate to 0 and 1 (Adam at
  // 1e-3 on batches of 4 did, and saturated outputs agree whatever the exported graph computes).
  const optimizer = { kind: 'sgd' as const, lr: 1e-4, momentum: 0, nesterov: false };
  const config = { arch: 'backbone' as const, backbone, epochs: 1, headEpochs: 0, unfreezeBlocks: 100, fineTuneLrFactor: 1, batchSize: 4, dropout: 0, augment: {}, earlyStopping: null, seed: 1, optimizer };
  const [run] = createRuns(project, { config }, 'test');
  const stored = await loadModel(join(project.path, 'backbones', backbone));
  const conv = stored.layers.find((l) => ['Conv2D', 'DepthwiseConv2D'].includes(l.getClassName()))!;
  const before = conv.getWeights()[0]!.dataSync().slice();
  stored.dispose();

  const result = await runTraining(project, run!.id, { mode: 'start', backend: 'wasm' });
  assert.equal(result.status, 'finished', result.message);
  const detail = await core.dispatch('runs:get', { runId: run!.id });
  // The model the bundle exports: the run's best checkpoint.
  const model = await loadModel(collectRunFacts(project, run!.id).modelDir);
  const after = model.getLayer(conv.name).getWeights()[0]!.dataSync();
  const firstConvChanged = after.some((v, i) => v !== before[i]);

  await exportBundle(project, { runId: run!.id, outDir, formats: ['onnx'], appVersion: 'test' });
  const { imageSize: size, channels } = detail.run.preprocessing!;
  const n = 2;
  const next = seededRandom(7);
  const nhwc = Float32Array.from({ length: n * size * size * channels }, () => next() * 4 - 2);
  const ours = tf.tidy(() => (model.predict(tf.tensor4d(nhwc, [n, size, size, channels])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  const session = await ort.InferenceSession.create(join(outDir, 'model.onnx'));
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', nhwc, [n, size, size, channels]) });
    const theirs = out[session.outputNames[0]!]!.data as Float32Array;
    assert.equal(theirs.length, ours.length);
    const maxAbsDiff = theirs.reduce((m, v, i) => Math.max(m, Math.abs(v - ours[i]!)), 0);
    const maxRelDiff = theirs.reduce((m, v, i) => (Math.max(v, ours[i]!) > INFORMATIVE_PROBABILITY ? Math.max(m, Math.abs(v - ours[i]!) / Math.max(v, ours[i]!)) : m), 0);
    const unsaturated = ours.some((p) => p > INFORMATIVE_PROBABILITY && p < 1 - 1e-6);
    return { runId: run!.id, firstConvChanged, trainLoss: detail.epochs[0]!.trainLoss, maxAbsDiff, maxRelDiff, outputs: ours.length, unsaturated };
  } finally {
    await session.release();
  }
}
