// Issue 12, external validation: a foreign ONNX classifier evaluated on the project's labeled images, in a training
// process, through the contract (`evaluations:external`) and the CLI (`loupe eval --model`). Its stored metrics
// must equal those computed here from onnxruntime's own outputs on the same pixels; bad files store nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import type { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { decodeForModel } from '../../electron/core/images/model-input.ts';
import { normalizeInto } from '../../electron/core/training/augment.ts';
import { storedProbs } from '../../electron/core/evaluation/evaluations.ts';
import { computeMetrics, EVALUATION_BOOTSTRAP_SEED } from '../../shared/metrics.ts';
import { presetNormalization } from '../../shared/preprocess-presets.ts';
import { GraphBuilder, tinyClassifier } from '../helpers/onnx-graphs.ts';
import { projectWithImages } from '../helpers/image-project.ts';
import { writeShapeImages } from '../helpers/shape-images.ts';
import { tempDir } from '../helpers/tmp.ts';

const LOUPE = fileURLToPath(new URL('../../bin/loupe.js', import.meta.url));
let dir = '';
let core: LoupeCore;

before(async () => {
  dir = tempDir();
  await writeShapeImages(join(dir, 'images'), 10);
  core = await projectWithImages(dir, 'project', join(dir, 'images'));
  await core.dispatch('splits:assign', { ratios: [0.4, 0.2, 0.4], seed: 3 });
  writeFileSync(join(dir, 'shapes.onnx'), tinyClassifier({ classes: 2 }));
});

after(async () => {
  await core.shutdown();
});

async function runExternal(req: { path: string; classes?: string[]; split: 'val' | 'test'; preprocess?: 'imagenet' | 'unit' | 'minus-one-one'; imageSize?: number }) {
  const { jobId } = await core.dispatch('evaluations:external', req);
  return core.jobs.wait(jobId);
}

function counts(): { evaluations: number; external: number } {
  const db = core.requireProject().db;
  return {
    evaluations: db.prepare('SELECT COUNT(*) FROM evaluations').pluck().get() as number,
    external: db.prepare('SELECT COUNT(*) FROM external_models').pluck().get() as number,
  };
}

/** onnxruntime on the images' pixels as decodeForModel gives them, normalized here: the model's own answer. */
async function referenceProbs(file: string, imageIds: number[], size: number, preset: 'imagenet' | 'unit'): Promise<Float32Array> {
  const db = core.requireProject().db;
  const session = await ort.InferenceSession.create(readFileSync(file));
  const norm = presetNormalization(preset, 3);
  const out: number[] = [];
  for (const id of imageIds) {
    const row = db.prepare('SELECT r.path AS root, i.rel_path FROM images i JOIN roots r ON r.id = i.root_id WHERE i.id = ?').get(id) as { root: string; rel_path: string };
    const { pixels } = await decodeForModel(readFileSync(join(row.root, row.rel_path)), { imageSize: size, channels: 3, resize: 'squash' }, { min: null, max: null }, 1e8);
    const nhwc = new Float32Array(pixels.length);
    normalizeInto(pixels, nhwc, 0, 3, norm);
    const nchw = new Float32Array(nhwc.length);
    for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) nchw[c * size * size + p] = nhwc[p * 3 + c]!;
    const r = await session.run({ input: new ort.Tensor('float32', nchw, [1, 3, size, size]) });
    const logits = [...(r[session.outputNames[0]!]!.data as Float32Array)];
    const max = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / sum));
  }
  await session.release();
  return Float32Array.from(out);
}

test('an external ONNX model is evaluated in a training process; its metrics equal those of its own outputs', async () => {
  const file = join(dir, 'shapes.onnx');
  const job = await runExternal({ path: file, classes: ['disc', 'bar'], split: 'test', preprocess: 'imagenet' });
  assert.equal(job.state, 'succeeded', job.message);
  const { evaluationId } = job.result as { evaluationId: number };
  const ev = await core.dispatch('evaluations:get', { evaluationId });
  assert.equal(ev.runId, null);
  assert.equal(ev.external?.fileName, 'shapes.onnx');
  assert.equal(ev.external?.sha256, (await import('node:crypto')).createHash('sha256').update(readFileSync(file)).digest('hex'));
  assert.deepEqual(ev.classes, ['disc', 'bar']);
  assert.ok(ev.notes.some((n) => /softmax/.test(n)), ev.notes.join('; '));
  const db = core.requireProject().db;
  const testImages = db.prepare(`SELECT COUNT(*) FROM images WHERE split = 'test'`).pluck().get() as number;
  assert.equal(ev.n, testImages);
  // No absolute path in what is shown of the model: the path is kept in its own column, for Re-evaluate alone.
  assert.ok(!JSON.stringify(ev).includes(dir));
  assert.ok(!JSON.stringify(db.prepare('SELECT * FROM external_models WHERE id = (SELECT external_model_id FROM evaluations WHERE id = ?)').get(evaluationId)).replace(`"path":${JSON.stringify(file)}`, '').includes(dir));

  const rows = db.prepare('SELECT image_id, label, probs FROM predictions WHERE evaluation_id = ? ORDER BY image_id').all(evaluationId) as { image_id: number; label: number; probs: Buffer }[];
  const reference = await referenceProbs(file, rows.map((r) => r.image_id), 8, 'imagenet');
  const stored = Float32Array.from(rows.flatMap((r) => [...storedProbs(r.probs)]));
  for (let i = 0; i < stored.length; i++) assert.ok(Math.abs(stored[i]! - reference[i]!) < 1e-5, `probability ${i}: ${stored[i]} vs ${reference[i]}`);
  const labels = Int32Array.from(rows.map((r) => r.label));
  const expected = computeMetrics({ labels, probs: reference, k: 2 }, { bootstrap: { seed: EVALUATION_BOOTSTRAP_SEED } });
  assert.equal(ev.metrics!.accuracy, expected.accuracy);
  assert.deepEqual(ev.metrics!.confusionMatrix.matrix, expected.confusionMatrix.matrix);
  assert.ok(Math.abs(ev.metrics!.auc.macro! - expected.auc.macro!) < 1e-9);
  assert.deepEqual(ev.metrics!.perClass.map((c) => c.support), expected.perClass.map((c) => c.support));
  assert.ok((await core.dispatch('evaluations:listExternal', {})).some((e) => e.id === evaluationId));
});

test('classes are mapped by name: images of classes the model lacks are left out, its classes without images reported', async () => {
  const file = join(dir, 'three.onnx');
  writeFileSync(file, tinyClassifier({ classes: 3 }));
  const job = await runExternal({ path: file, classes: ['Disc', 'cat', 'dog'], split: 'val', preprocess: 'unit' });
  assert.equal(job.state, 'succeeded', job.message);
  const ev = await core.dispatch('evaluations:get', { evaluationId: (job.result as { evaluationId: number }).evaluationId });
  const db = core.requireProject().db;
  const discs = db.prepare(`SELECT COUNT(*) FROM images i JOIN classes c ON c.id = i.class_id WHERE i.split = 'val' AND c.name = 'disc'`).pluck().get() as number;
  const bars = db.prepare(`SELECT COUNT(*) FROM images i JOIN classes c ON c.id = i.class_id WHERE i.split = 'val' AND c.name = 'bar'`).pluck().get() as number;
  assert.equal(ev.n, discs);
  assert.ok(ev.notes.includes(`${bars} image${bars > 1 ? 's' : ''} of class "bar" left out: the model has no class of that name`), ev.notes.join('; '));
  assert.ok(ev.notes.includes("The model's classes with no val images in the project: cat, dog"), ev.notes.join('; '));
  assert.equal(ev.external?.preprocess, 'unit');
});

test('bad models give a clear message and store nothing', async () => {
  const before = counts();
  const good = tinyClassifier({ classes: 2 });
  const notOnnx = join(dir, 'notes.onnx');
  writeFileSync(notOnnx, 'these are my notes, not a network\n');
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
  const g = new GraphBuilder(3);
  const featureMap = join(dir, 'feature-map.onnx');
  writeFileSync(featureMap, g.model(g.node('Relu', ['input']), { outputShape: ['N', 3, 8, 8] }));
  const dynamic = join(dir, 'dynamic.onnx');
  writeFileSync(dynamic, tinyClassifier({ classes: 2, inputShape: ['N', 3, 'H', 'W'] }));
  const cases: [string, string[], RegExp][] = [
    [notOnnx, ['disc', 'bar'], /ONNX|protobuf|not a model/i],
    [truncated, ['disc', 'bar'], /truncated|ONNX|end of/i],
    [featureMap, ['disc', 'bar'], /not a class vector/],
    [join(dir, 'shapes.onnx'), ['disc', 'bar', 'other'], /gives 2 outputs per image, but 3 class names were given/],
    [dynamic, ['disc', 'bar'], /--image-size/],
    [join(dir, 'shapes.onnx'), ['disc', 'Disc'], /given twice/],
  ];
  for (const [file, classes, message] of cases) {
    const job = await runExternal({ path: file, classes, split: 'test' });
    assert.equal(job.state, 'failed', file);
    assert.match(job.message, message, `${file}: ${job.message}`);
  }
  assert.deepEqual(counts(), before);
});

test('loupe eval --model: JSON metrics marked external, and the predictions CSV has the columns of a run\'s', () => {
  const project = join(dir, 'project');
  // The in-test core holds no lock the CLI needs: WAL lets both open the project.
  const csv = join(dir, 'p.csv');
  const labels = join(dir, 'labels.txt');
  writeFileSync(labels, '# the model\'s outputs\ndisc\nbar\n');
  const r = spawnSync(process.execPath, [LOUPE, 'eval', project, '--model', join(dir, 'shapes.onnx'), '--classes-from', labels, '--split', 'test', '--json', '--predictions', csv], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.runId, null);
  assert.equal(out.externalModel.fileName, 'shapes.onnx');
  assert.match(out.externalModel.sha256, /^[0-9a-f]{64}$/);
  assert.equal(typeof out.accuracy, 'number');
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'path,label,predicted,p_disc,p_bar');
  assert.equal(lines.length - 1, out.n);
  assert.ok(!readFileSync(csv, 'utf8').includes(dir), 'no absolute paths in the CSV');

  const bad = spawnSync(process.execPath, [LOUPE, 'eval', project, '--model', join(dir, 'shapes.onnx'), '--classes', 'disc,bar,other', '--split', 'test'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /gives 2 outputs per image, but 3 class names were given/);
  const none = spawnSync(process.execPath, [LOUPE, 'eval', project, '--model', join(dir, 'shapes.onnx')], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--classes a,b,c or --classes-from/);
});

test('the PDF report of an external evaluation says "external model <name> sha256 …" and has its metrics, no training pages', async () => {
  const [latest] = await core.dispatch('evaluations:listExternal', {});
  const out = join(dir, 'external.pdf');
  const { jobId } = await core.dispatch('report:create', { evaluationId: latest!.id, outPath: out });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const text = spawnSync('pdftotext', ['-layout', out, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  // The 64-digit hash may wrap at the column's edge: compared without whitespace.
  assert.ok(text.replace(/ /g, '').includes(`externalmodel${latest!.external!.fileName}sha256${latest!.external!.sha256}`), text.slice(0, 800));
  assert.match(text, /Confusion matrix/i);
  assert.doesNotMatch(text, /Training curves|Training settings/);
  assert.ok(!text.includes(dir), 'no absolute path in the report');
  await assert.rejects(core.dispatch('report:create', { outPath: join(dir, 'none.pdf') }), /Give the run \(runId\) or the evaluation/);
});

test('Re-evaluate: a stale external evaluation runs the same file again on the images as labeled now; a file gone or changed is refused, storing nothing', async () => {
  const file = join(dir, 'again.onnx');
  writeFileSync(file, tinyClassifier({ classes: 2 }));
  const first = await runExternal({ path: file, classes: ['disc', 'bar'], split: 'test', preprocess: 'unit' });
  assert.equal(first.state, 'succeeded', first.message);
  const oldId = (first.result as { evaluationId: number }).evaluationId;
  const old = await core.dispatch('evaluations:get', { evaluationId: oldId });
  assert.equal(old.stale, 0);

  // Relabel one evaluated test image to the other class: the evaluation goes stale.
  const db = core.requireProject().db;
  const predictions = (id: number) =>
    db.prepare('SELECT image_id, label, probs FROM predictions WHERE evaluation_id = ? ORDER BY image_id').all(id) as { image_id: number; label: number; probs: Buffer }[];
  const before = predictions(oldId);
  const moved = before[0]!;
  const classes = await core.dispatch('classes:list', {});
  const to = old.classes[1 - moved.label]!;
  await core.dispatch('labels:set', { imageIds: [moved.image_id], classId: classes.find((c) => c.name === to)!.id });
  try {
    assert.equal((await core.dispatch('evaluations:get', { evaluationId: oldId })).stale, 1);
    assert.equal((await core.dispatch('evaluations:listExternal', {})).find((e) => e.id === oldId)!.stale, 1);

    const { jobId } = await core.dispatch('evaluations:reevaluateExternal', { evaluationId: oldId });
    const job = await core.jobs.wait(jobId);
    assert.equal(job.state, 'succeeded', job.message);
    const newId = (job.result as { evaluationId: number }).evaluationId;
    assert.notEqual(newId, oldId);
    const fresh = await core.dispatch('evaluations:get', { evaluationId: newId });
    assert.equal(fresh.stale, 0);
    assert.equal(fresh.split, 'test');
    assert.deepEqual(fresh.external, old.external, 'the same file, preprocessing and size');
    assert.deepEqual(fresh.classes, old.classes);
    assert.equal(fresh.n, old.n);
    // The same model on the same pixels: the same probabilities; only the relabeled image's label differs.
    const after = predictions(newId);
    assert.deepEqual(after.map((r) => r.image_id), before.map((r) => r.image_id));
    after.forEach((r, i) => assert.deepEqual(storedProbs(r.probs), storedProbs(before[i]!.probs)));
    assert.deepEqual(after.map((r) => (r.image_id === moved.image_id ? 1 - r.label : r.label)), before.map((r) => r.label));
    // The stale one stays as it was, still stale: its numbers describe the old labels.
    const kept = await core.dispatch('evaluations:get', { evaluationId: oldId });
    assert.deepEqual(kept.metrics, old.metrics);
    assert.equal(kept.stale, 1);

    // Another model written over the file: not the model evaluated, refused before any image is read.
    const counted = counts();
    const original = readFileSync(file);
    writeFileSync(file, tinyClassifier({ classes: 2, act: 'Sigmoid' }));
    const changed = await core.jobs.wait((await core.dispatch('evaluations:reevaluateExternal', { evaluationId: oldId })).jobId);
    assert.equal(changed.state, 'failed');
    assert.match(changed.message, /^again\.onnx has changed since it was evaluated \(its SHA-256 is now [0-9a-f]{12}…, was [0-9a-f]{12}…\): evaluate it as a new model file/);
    assert.deepEqual(counts(), counted);

    // The file gone: a clear message naming where it was, and no job.
    rmSync(file);
    await assert.rejects(core.dispatch('evaluations:reevaluateExternal', { evaluationId: oldId }), (e: Error) => {
      assert.equal(e.message, `again.onnx is no longer at ${file}: put it back there, or evaluate it anew with "Evaluate a model file"`);
      return true;
    });
    // An evaluation stored before Loupe kept the path.
    db.prepare('UPDATE external_models SET path = NULL WHERE id = (SELECT external_model_id FROM evaluations WHERE id = ?)').run(oldId);
    await assert.rejects(core.dispatch('evaluations:reevaluateExternal', { evaluationId: oldId }), /Loupe did not keep where again\.onnx was/);
    await assert.rejects(core.dispatch('evaluations:reevaluateExternal', { evaluationId: 999_999 }), /No evaluation with id 999999/);
    assert.deepEqual(counts(), counted);

    // The CLI, with the file back where it was.
    writeFileSync(file, original);
    const r = spawnSync(process.execPath, [LOUPE, 'eval', join(dir, 'project'), '--reevaluate', String(newId), '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.externalModel.fileName, 'again.onnx');
    assert.equal(out.n, old.n);
    assert.equal(out.accuracy, fresh.metrics!.accuracy);
    assert.deepEqual(counts(), { evaluations: counted.evaluations + 1, external: counted.external + 1 });
  } finally {
    await core.dispatch('labels:undo', {});
  }
});

test('Re-evaluate reads project.db as untrusted: a damaged model record is refused with its field named, nothing run or stored', async () => {
  const file = join(dir, 'tampered.onnx');
  writeFileSync(file, tinyClassifier({ classes: 2 }));
  const first = await runExternal({ path: file, classes: ['disc', 'bar'], split: 'test', preprocess: 'unit' });
  assert.equal(first.state, 'succeeded', first.message);
  const evaluationId = (first.result as { evaluationId: number }).evaluationId;
  const db = core.requireProject().db;
  const modelId = (db.prepare('SELECT external_model_id AS m FROM evaluations WHERE id = ?').get(evaluationId) as { m: number }).m;
  const stored = db.prepare('SELECT classes, preprocess, image_size FROM external_models WHERE id = ?').get(modelId) as Record<string, unknown>;
  const counted = counts();
  const damaged: [string, Record<string, unknown>, RegExp][] = [
    ['classes', { classes: 'not json' }, /\(classes\)/],
    ['classes', { classes: JSON.stringify(Array.from({ length: 100_000 }, (_, i) => `c${i}`)) }, /\(classes\)/],
    ['classes', { classes: JSON.stringify({ length: 1e9 }) }, /\(classes\)/],
    ['classes', { classes: JSON.stringify(['only one']) }, /\(classes\)/],
    ['image_size', { image_size: 1_000_000 }, /\(imageSize\)/],
    ['image_size', { image_size: 0.5 }, /\(imageSize\)/],
    ['preprocess', { preprocess: 'rm -rf' }, /\(preprocess\)/],
  ];
  try {
    for (const [column, values, field] of damaged) {
      db.prepare(`UPDATE external_models SET ${column} = ? WHERE id = ?`).run(values[column], modelId);
      await assert.rejects(core.dispatch('evaluations:reevaluateExternal', { evaluationId }), (e: Error) => {
        assert.match(e.message, /^Evaluation \d+'s stored model record is damaged/, `${column} = ${String(values[column]).slice(0, 40)}`);
        assert.match(e.message, field);
        assert.match(e.message, /evaluate tampered\.onnx anew/);
        return true;
      });
      db.prepare('UPDATE external_models SET classes = ?, preprocess = ?, image_size = ? WHERE id = ?').run(stored.classes, stored.preprocess, stored.image_size, modelId);
    }
    assert.deepEqual(counts(), counted, 'no job ran, nothing was stored');
    // Restored, the same record evaluates again.
    const again = await core.jobs.wait((await core.dispatch('evaluations:reevaluateExternal', { evaluationId })).jobId);
    assert.equal(again.state, 'succeeded', again.message);
  } finally {
    rmSync(file, { force: true });
  }
});

test('a Loupe bundle from another project evaluates as an external model, with the same numbers as its run', async () => {
  // A tiny run trained here (wasm, in this process), exported, then evaluated as a foreign bundle.
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const [run] = createRuns(core.requireProject(), { config: { arch: 'lenet5', imageSize: 16, channels: 1, epochs: 1, batchSize: 8, augment: {}, earlyStopping: null, seed: 1 } }, 'test');
  const trained = await runTraining(core.requireProject(), run!.id, { mode: 'start', backend: 'wasm' });
  assert.equal(trained.status, 'finished', trained.message);
  const own = await runEvaluation(core.requireProject(), { runId: run!.id, split: 'test' });
  const bundleDir = join(dir, 'colleague-bundle');
  const exported = await core.jobs.wait((await core.dispatch('export:model', { runId: run!.id, outDir: bundleDir, formats: ['tfjs'] })).jobId);
  assert.equal(exported.state, 'succeeded', exported.message);

  const job = await runExternal({ path: bundleDir, split: 'test' });
  assert.equal(job.state, 'succeeded', job.message);
  const ev = await core.dispatch('evaluations:get', { evaluationId: (job.result as { evaluationId: number }).evaluationId });
  const ref = await core.dispatch('evaluations:get', { evaluationId: own.evaluationId });
  assert.equal(ev.runId, null);
  assert.equal(ev.external?.fileName, 'colleague-bundle');
  assert.equal(ev.external?.preprocess, 'bundle');
  assert.equal(ev.external?.sha256, ref.modelSha256, "identified by its weights' SHA-256, as its run is");
  assert.deepEqual(ev.classes, ref.classes);
  assert.equal(ev.n, ref.n);
  assert.equal(ev.metrics!.accuracy, ref.metrics!.accuracy);
  assert.deepEqual(ev.metrics!.confusionMatrix.matrix, ref.metrics!.confusionMatrix.matrix);

  // Names that are not the bundle's own: refused, nothing stored.
  const before = counts();
  const wrong = await runExternal({ path: bundleDir, classes: ['bar', 'disc', 'x'], split: 'test' });
  assert.equal(wrong.state, 'failed');
  assert.match(wrong.message, /labels\.json lists 2 classes/);
  assert.deepEqual(counts(), before);

  // Re-evaluate reads the same folder again, with the classes and preprocessing the bundle carries.
  const again = await core.jobs.wait((await core.dispatch('evaluations:reevaluateExternal', { evaluationId: ev.id })).jobId);
  assert.equal(again.state, 'succeeded', again.message);
  const rerun = await core.dispatch('evaluations:get', { evaluationId: (again.result as { evaluationId: number }).evaluationId });
  assert.deepEqual(rerun.external, ev.external);
  assert.deepEqual(rerun.metrics!.confusionMatrix.matrix, ev.metrics!.confusionMatrix.matrix);
  rmSync(bundleDir, { recursive: true });
  await assert.rejects(core.dispatch('evaluations:reevaluateExternal', { evaluationId: ev.id }), /colleague-bundle is no longer at .*colleague-bundle: put it back there/);
});
