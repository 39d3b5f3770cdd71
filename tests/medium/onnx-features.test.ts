// Issue 12: an ONNX backbone's head-only phase computes its features on onnxruntime from the original file kept
// in the backbone's folder (source.onnx), cut at the value the TF.js feature layer computes. The features must
// equal the TF.js ones within float32 rounding, the run must say which engine it used and train as before, a
// broken source.onnx must fall back on TF.js with the reason shown, and a stop during the pass is a stop.
// Real project, real PNGs through sharp, a real small ONNX network, onnxruntime-node and tfjs on wasm.
import { test, before, mock } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-node';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { loadModel } from '../../electron/core/training/checkpoint.ts';
import { openOnnxFeatures } from '../../electron/core/training/onnx-features.ts';
import { featureOutputModel } from '../../electron/core/onnx-import/feature-output.ts';
import { convertGraph } from '../../electron/core/onnx-import/convert-graph.ts';
import { readOnnx } from '../../electron/core/onnx-import/onnx-read.ts';
import { seededRandom } from '../../shared/random.ts';
import type { TrainConfigInput } from '../../shared/training.ts';
import { tinyClassifier } from '../helpers/onnx-graphs.ts';
import { tempDir } from '../helpers/tmp.ts';
import { projectWithOnnxBackbone } from '../helpers/image-project.ts';

const fixtures = fileURLToPath(new URL('../fixtures/onnx/', import.meta.url));
let dir = '';
let core: LoupeCore;
const IMAGES = 2 * 12;
/** Features of two float32 engines differ by rounding only; a layout mistake is off by far more. */
const TOLERANCE = 1e-4;

const headOnly: TrainConfigInput = {
  arch: 'backbone',
  backbone: 'resnet',
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

const folder = () => join(dir, 'project', 'backbones', 'resnet');
const tensors = () => join(dir, 'project', 'cache', 'tensors');
const featureDirs = () => (existsSync(tensors()) ? readdirSync(tensors()) : []).filter((d) => d.startsWith('features-'));
const clearFeatures = () => featureDirs().forEach((d) => rmSync(join(tensors(), d), { recursive: true }));
const cachedFeatures = () => {
  const bytes = readFileSync(join(tensors(), featureDirs()[0]!, 'data.bin'));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
};

async function train(config: TrainConfigInput, o: { featureCache?: boolean; signal?: AbortSignal; onPrepare?: (done: number, status: string | undefined) => void } = {}) {
  const statuses: string[] = [];
  const [run] = createRuns(core.requireProject(), { config }, 'test');
  const events = { status: (m: string) => statuses.push(m), prepare: (done: number) => o.onPrepare?.(done, statuses.at(-1)) };
  const result = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm', featureCache: o.featureCache ?? true, signal: o.signal, events });
  const detail = await core.dispatch('runs:get', { runId: run!.id });
  return { result, statuses, epochs: detail.epochs, warnings: detail.run.warnings, runStatus: detail.run.status };
}

/**
 * With LOUPE_INFERENCE=tfjs: where source.onnx cannot be used, the features are computed by TF.js, not by the
 * backbone's TF.js model converted for onnxruntime (feature-cache.test.ts tests that step).
 */
async function onlyTfjs<T>(run: () => Promise<T>): Promise<T> {
  process.env['LOUPE_INFERENCE'] = 'tfjs';
  try {
    return await run();
  } finally {
    delete process.env['LOUPE_INFERENCE'];
  }
}

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir();
  core = await projectWithOnnxBackbone(dir, IMAGES, join(fixtures, 'resnet18-tiny.onnx'), 'resnet');
});

test('the cut model outputs the feature value; a value the graph does not compute is refused', async () => {
  const bytes = tinyClassifier({ classes: 3 });
  const converted = convertGraph(readOnnx(bytes));
  const cut = featureOutputModel(bytes, converted.featureValue);
  // Only what the features need: the classifier's Gemm and its two weights are gone.
  const graph = readOnnx(cut);
  assert.ok(!graph.nodes.some((n) => n.opType === 'Gemm'));
  assert.equal(graph.initializers.size, readOnnx(bytes).initializers.size - 2);
  assert.deepEqual(graph.outputs.map((o) => o.name), [converted.featureValue]);
  const session = await ort.InferenceSession.create(cut);
  const next = seededRandom(3);
  const nhwc = Float32Array.from({ length: 2 * 8 * 8 * 3 }, () => next() * 4 - 2);
  const nchw = tf.tidy(() => tf.transpose(tf.tensor4d(nhwc, [2, 8, 8, 3]), [0, 3, 1, 2]).dataSync() as Float32Array);
  const out = (await session.run({ input: new ort.Tensor('float32', nchw, [2, 3, 8, 8]) }))[converted.featureValue]!;
  await session.release();
  const ours = tf.tidy(() => converted.features.predict(tf.tensor4d(nhwc, [2, 8, 8, 3])) as tf.Tensor).dataSync();
  assert.deepEqual(out.dims.map(Number), [2, 4]);
  (out.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - ours[i]!) < TOLERANCE, `feature ${i}: ${v} vs ${ours[i]}`));
  converted.model.dispose();

  assert.throws(() => featureOutputModel(bytes, 'no-such-value'), /no value "no-such-value"/);
  // The graph's input is no feature value either.
  assert.throws(() => featureOutputModel(bytes, 'input'), /no value "input"/);
  assert.throws(() => featureOutputModel(bytes.subarray(0, bytes.length - 9), converted.featureValue), /truncated or corrupt/);
});

test('onnxruntime on the stored source.onnx gives the TF.js backbone\'s features', async () => {
  assert.deepEqual(readdirSync(folder()).sort(), ['backbone.json', 'model.json', 'source.onnx', 'weights.bin']);
  const meta = JSON.parse(readFileSync(join(folder(), 'backbone.json'), 'utf8'));
  assert.equal(meta.onnx.file, 'source.onnx');
  assert.equal(meta.onnx.sha256, meta.source.sha256);
  const backbone = await loadModel(folder());
  const dim = backbone.outputs[0]!.shape[1]!;
  const engine = await openOnnxFeatures(folder(), meta.onnx, 32, 3, dim);
  assert.match(engine.label, /^onnxruntime on \d+ threads?$/);
  const next = seededRandom(7);
  const n = 5; // not a multiple of anything: a short batch
  const nhwc = Float32Array.from({ length: n * 32 * 32 * 3 }, () => next() * 4 - 2);
  const ort = await engine.run(nhwc, n);
  await engine.close();
  const ours = tf.tidy(() => backbone.predict(tf.tensor4d(nhwc, [n, 32, 32, 3])) as tf.Tensor).dataSync();
  backbone.dispose();
  assert.equal(ort.length, n * dim);
  assert.ok(ours.some((v) => v !== 0));
  ort.forEach((v, i) => assert.ok(Math.abs(v - ours[i]!) < TOLERANCE, `feature ${i}: ${v} vs ${ours[i]}`));
});

test('a head-only run computes its features on onnxruntime, says so, and trains as on images', async () => {
  const onOrt = await train(headOnly);
  assert.equal(onOrt.result.status, 'finished', onOrt.result.message);
  assert.ok(onOrt.statuses.some((s) => /^Computing features \(onnxruntime on \d+ threads?\)$/.test(s)), onOrt.statuses.join(' | '));
  assert.ok(!onOrt.statuses.includes('Computing features'), 'no TF.js pass after onnxruntime');
  assert.deepEqual(onOrt.warnings, []);
  const ortFeatures = cachedFeatures().slice();

  // The same run on images (the TF.js backbone each epoch): the same losses and accuracy.
  const onImages = await train(headOnly, { featureCache: false });
  assert.equal(onImages.result.status, 'finished');
  onOrt.epochs.forEach((e, i) => {
    const o = onImages.epochs[i]!;
    assert.ok(Math.abs(e.trainLoss - o.trainLoss) < 1e-3, `epoch ${i + 1} train loss ${e.trainLoss} vs ${o.trainLoss} on images`);
    assert.ok(Math.abs(e.valLoss! - o.valLoss!) < 1e-3, `epoch ${i + 1} val loss ${e.valLoss} vs ${o.valLoss} on images`);
  });
  assert.equal(onOrt.epochs.at(-1)!.valAccuracy, onImages.epochs.at(-1)!.valAccuracy);
  assert.ok(onOrt.epochs.at(-1)!.trainLoss < onOrt.epochs[0]!.trainLoss);

  // The same images' features computed by TF.js (source.onnx removed) fill the same cache entry, equal within rounding.
  const source = readFileSync(join(folder(), 'source.onnx'));
  try {
    clearFeatures();
    rmSync(join(folder(), 'source.onnx'));
    const onTfjs = await onlyTfjs(() => train({ ...headOnly, epochs: 1, headEpochs: 1 }));
    assert.equal(onTfjs.result.status, 'finished', onTfjs.result.message);
    assert.ok(onTfjs.statuses.includes('Computing features'));
    const tfjsFeatures = cachedFeatures();
    assert.equal(featureDirs().length, 1, 'one cache key whichever engine computed the features');
    assert.equal(tfjsFeatures.length, ortFeatures.length);
    tfjsFeatures.forEach((v, i) => assert.ok(Math.abs(v - ortFeatures[i]!) < TOLERANCE, `value ${i}: ${v} vs ${ortFeatures[i]}`));
  } finally {
    writeFileSync(join(folder(), 'source.onnx'), source);
  }
});

test('a missing or corrupt source.onnx falls back on TF.js and the run says why', async () => {
  const source = readFileSync(join(folder(), 'source.onnx'));
  const cases: [string, () => void, RegExp][] = [
    ['missing', () => rmSync(join(folder(), 'source.onnx')), /source\.onnx is missing/],
    ['corrupt', () => writeFileSync(join(folder(), 'source.onnx'), source.subarray(0, source.length >> 1)), /source\.onnx does not match the checksum/],
  ];
  try {
    for (const [what, breakIt, reason] of cases) {
      clearFeatures();
      breakIt();
      const r = await onlyTfjs(() => train({ ...headOnly, epochs: 1, headEpochs: 1 }));
      assert.equal(r.result.status, 'finished', `${what}: ${r.result.message}`);
      const shown = r.statuses.find((s) => s.startsWith('onnxruntime could not compute the features'));
      assert.match(shown ?? '', reason, `${what}: ${r.statuses.join(' | ')}`);
      assert.match(shown!, /computing them on TF\.js instead$/);
      assert.ok(r.warnings.some((w) => reason.test(w)), `${what}: the reason is in the run's warnings`);
      assert.ok(r.statuses.includes('Computing features'), `${what}: TF.js computed them`);
      assert.ok(Number.isFinite(r.epochs[0]!.trainLoss));
      writeFileSync(join(folder(), 'source.onnx'), source);
    }
  } finally {
    writeFileSync(join(folder(), 'source.onnx'), source);
  }
});

test('onnxruntime failing partway through the feature pass: TF.js computes the rest, nothing half-written is kept, a retry reuses it all', async () => {
  // The reference: every image's features on TF.js alone (source.onnx out of the way).
  const source = readFileSync(join(folder(), 'source.onnx'));
  clearFeatures();
  rmSync(join(folder(), 'source.onnx'));
  try {
    assert.equal((await onlyTfjs(() => train({ ...headOnly, epochs: 1, headEpochs: 1 }))).result.status, 'finished');
  } finally {
    writeFileSync(join(folder(), 'source.onnx'), source);
  }
  const reference = cachedFeatures().slice();
  clearFeatures();

  // The first batch (16 of the 24 images) runs for real; the second reaches the real onnxruntime with an image
  // one row short, so it is onnxruntime itself that refuses it, as it would a batch it cannot run for any reason.
  // The typings describe InferenceSession as a factory; at run time it is the class every session is made from.
  const sessions = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const original = sessions.run as (this: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType) => Promise<ort.InferenceSession.ReturnType>;
  let calls = 0;
  const failing = mock.method(sessions, 'run', function (this: ort.InferenceSession, feeds: Record<string, ort.Tensor>) {
    calls++;
    if (calls === 1) return original.call(this, feeds);
    const [name, x] = Object.entries(feeds)[0]!;
    const [n, c, h, w] = x.dims as number[];
    const short = new ort.Tensor('float32', (x.data as Float32Array).subarray(0, n! * c! * (h! - 1) * w!), [n!, c!, h! - 1, w!]);
    return original.call(this, { [name]: short });
  });
  let r: Awaited<ReturnType<typeof train>>;
  try {
    r = await train(headOnly);
  } finally {
    failing.mock.restore();
  }
  assert.equal(calls, 2, 'one batch succeeded, the next failed');
  assert.equal(r.result.status, 'finished', r.result.message);
  assert.equal(r.runStatus, 'finished');
  // The reason names onnxruntime's own complaint, in the status line and in the run's stored warnings.
  const reason = /^onnxruntime could not compute the features \(.*invalid dimensions.*\); computing them on TF\.js instead$/s;
  assert.ok(r.statuses.some((s) => reason.test(s)), r.statuses.join(' | '));
  assert.equal(r.warnings.length, 1, r.warnings.join(' | '));
  assert.match(r.warnings[0]!, reason);
  assert.ok(r.statuses.includes('Computing features'), 'TF.js computed the images onnxruntime did not');
  assert.equal(r.epochs.length, headOnly.epochs);
  assert.ok(r.epochs.every((e) => Number.isFinite(e.trainLoss)));

  // One row an image, no row from the failed batch: the cache holds what each engine finished, equal to TF.js's.
  const mixed = cachedFeatures();
  assert.equal(featureDirs().length, 1);
  assert.equal(mixed.length, reference.length);
  // Rows are in the order each engine wrote them; compare them as a set of vectors.
  const dim = reference.length / IMAGES;
  const rows = (f: Float32Array) => Array.from({ length: IMAGES }, (_, i) => Array.from(f.subarray(i * dim, (i + 1) * dim)));
  const wanted = rows(reference);
  for (const row of rows(mixed)) {
    assert.ok(wanted.some((w) => w.every((v, i) => Math.abs(v - row[i]!) < TOLERANCE)), `a cached row matches no image's features: ${row}`);
  }

  // A retry computes nothing: every image's features are in the cache, whichever engine computed them.
  const again = await train({ ...headOnly, epochs: 1, headEpochs: 1 });
  assert.equal(again.result.status, 'finished', again.result.message);
  assert.ok(again.statuses.includes(`Features of all ${IMAGES} images are cached`), again.statuses.join(' | '));
  assert.deepEqual(again.warnings, []);
});

test('a stop during the onnxruntime feature pass ends the run as stopped', async () => {
  clearFeatures();
  const controller = new AbortController();
  // Batches of 16 on 24 images: stop after the first (the counts before are the images' preparation).
  const onOrt = (status: string | undefined) => status?.startsWith('Computing features (onnxruntime');
  const r = await train(headOnly, { signal: controller.signal, onPrepare: (done, status) => done > 0 && onOrt(status) && controller.abort() });
  assert.ok(r.statuses.some((s) => s.startsWith('Computing features (onnxruntime')), r.statuses.join(' | '));
  assert.equal(r.result.status, 'stopped', r.result.message);
  assert.equal(r.runStatus, 'stopped');
  assert.equal(r.epochs.length, 0);
  assert.ok(!r.statuses.includes('Computing features'), 'no TF.js pass after a stop');
  assert.deepEqual(r.warnings, []);
});

test('copying an ONNX backbone folder takes source.onnx along; a symlinked one is refused', async () => {
  const copy = await core.dispatch('backbones:import', { path: folder(), name: 'resnet-copy' });
  assert.equal(copy.name, 'resnet-copy');
  const copied = join(dir, 'project', 'backbones', 'resnet-copy');
  assert.deepEqual(readdirSync(copied).sort(), ['backbone.json', 'model.json', 'source.onnx', 'weights.bin']);
  assert.deepEqual(JSON.parse(readFileSync(join(copied, 'backbone.json'), 'utf8')).onnx, JSON.parse(readFileSync(join(folder(), 'backbone.json'), 'utf8')).onnx);
  assert.deepEqual(readFileSync(join(copied, 'source.onnx')), readFileSync(join(folder(), 'source.onnx')));
  clearFeatures();
  const r = await train({ ...headOnly, backbone: 'resnet-copy', epochs: 1, headEpochs: 1 });
  assert.equal(r.result.status, 'finished', r.result.message);
  assert.ok(r.statuses.some((s) => s.startsWith('Computing features (onnxruntime')), r.statuses.join(' | '));

  // A folder from someone else whose source.onnx links elsewhere: nothing is imported.
  const linked = join(dir, 'linked');
  cpSync(folder(), linked, { recursive: true });
  rmSync(join(linked, 'source.onnx'));
  symlinkSync(join(folder(), 'source.onnx'), join(linked, 'source.onnx'));
  await assert.rejects(core.dispatch('backbones:import', { path: linked, name: 'linked' }), /symbolic link/);
  assert.ok(!readdirSync(join(dir, 'project', 'backbones')).includes('linked'));
});
