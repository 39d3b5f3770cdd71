// Export end to end (issue 6) on a real run: sample radiographs imported with sharp, a small CNN trained on the
// wasm backend, evaluated on val and test. Then: the bundle (files, hashes, model card), `loupe predict` giving
// the evaluation's probabilities, a tampered bundle refused, the refusals of bad input, another channel count
// converted, the ImageFolder dataset export, and the PDF report read back with poppler.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../electron/core/training/kernels/index.ts';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import { runTraining } from '../../electron/core/training/trainer.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { runEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import { getEvaluation } from '../../electron/core/evaluation/evaluations.ts';
import { verifyBundle, type BundleManifest } from '../../electron/core/export/bundle-format.ts';
import { LoupeError, type ExportReport } from '../../shared/contract.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { startHost } from '../../electron/host/server.ts';
import { TOKEN_HEADER } from '../../shared/transport.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = join(import.meta.dirname, '..', '..');
let dir: string;
let core: LoupeCore;
let project: Project;
let runId: number;
let valEvaluation: number;
let testEvaluation: number;

before(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  dir = tempDir('loupe-export-');
  await writeSampleImages(join(dir, 'images'), { perClass: 20, signal: new AbortController().signal, progress: () => {} });
  core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  project = core.openProject(join(dir, 'project'), { create: true, name: 'Export test' });
  const job = await core.jobs.wait((await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' })).jobId);
  assert.equal(job.state, 'succeeded', job.message);
  await core.dispatch('splits:assign', { ratios: [0.6, 0.2, 0.2], seed: 3 });
  const [run] = createRuns(project, { config: { arch: 'cnn', imageSize: 24, channels: 1, epochs: 2, batchSize: 16, augment: {}, earlyStopping: null, seed: 5 } }, 'test');
  runId = run!.id;
  const result = await runTraining(project, runId, { mode: 'start', backend: 'wasm' });
  assert.equal(result.status, 'finished', result.message);
  valEvaluation = (await runEvaluation(project, { runId, split: 'val' })).evaluationId;
  testEvaluation = (await runEvaluation(project, { runId, split: 'test' })).evaluationId;
});

async function exportModel(outDir: string, extra: Record<string, unknown> = {}): Promise<ExportReport> {
  const { jobId } = await core.dispatch('export:model', { runId, outDir, ...extra });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  return job.result as ExportReport;
}

function loupe(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'loupe.js'), ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
}

test('the bundle holds the model, labels, preprocessing, card, sample and checksums of every file', async () => {
  const out = join(dir, 'bundle');
  const r = await exportModel(out, { zip: true, notes: 'Only for the sample radiographs.' });
  const names = readdirSync(out).sort();
  assert.deepEqual(names, ['labels.json', 'manifest.json', 'model-card.md', 'model.json', 'model.onnx', 'predict.mjs', 'preprocessing.json', 'weights.bin']);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as BundleManifest;
  assert.deepEqual(Object.keys(manifest.files).sort(), names.filter((n) => n !== 'manifest.json'));
  assert.ok(existsSync(r.zip!) && statSync(r.zip!).size > 1000);
  const card = readFileSync(join(out, 'model-card.md'), 'utf8');
  const ev = getEvaluation(project.db, testEvaluation);
  const ci = ev.metrics!.confidenceIntervals!;
  assert.match(card, new RegExp(`Accuracy \\| ${ev.metrics!.accuracy.toFixed(4)} \\| ${ci.accuracy.lower.toFixed(4)} – ${ci.accuracy.upper.toFixed(4)}`));
  for (const f of ['model.json', 'weights.bin', 'model.onnx', 'labels.json', 'preprocessing.json', 'predict.mjs']) assert.ok(card.includes(manifest.files[f]!.sha256), f);
  assert.match(card, /\| effusion \| \d+ \| \d+ \| \d+ \|/);
  assert.match(card, /Only for the sample radiographs\./);
  // Counts, never file names: no image path of the project appears in the card.
  assert.ok(!/\.png|\.tif|sample-images/.test(card));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')), ['effusion', 'normal', 'pneumonia']);
  const pre = verifyBundle(out).preprocessing;
  assert.equal(pre.imageSize, 24);
  assert.deepEqual(pre.input.shape, [null, 24, 24, 1]);
});

test('loupe predict gives the probabilities loupe eval stored, for every image of the split', async () => {
  const out = join(dir, 'bundle-rt');
  await exportModel(out, { formats: ['tfjs'] });
  const rows = project.db
    .prepare(`SELECT r.path || '/' || i.rel_path AS path, p.probs FROM predictions p JOIN images i ON i.id = p.image_id JOIN roots r ON r.id = i.root_id WHERE p.evaluation_id = ?`)
    .all(valEvaluation) as { path: string; probs: Buffer }[];
  const files = rows.map((r) => r.path);
  const res = loupe('predict', out, ...files, '--json', '--full-paths');
  assert.equal(res.status, 0, res.stderr);
  const got = JSON.parse(res.stdout.trim().split('\n').pop()!) as { predicted: number; engine: string; notes: string[]; predictions: { path: string; probabilities: number[]; predicted: string }[] };
  assert.equal(got.predicted, rows.length);
  // Both sides predicted on onnxruntime (evaluations and `loupe predict` open the same predictor).
  assert.match(got.engine, /^onnxruntime on \d+ threads?$/);
  assert.deepEqual(got.notes, []);
  const labels = ['effusion', 'normal', 'pneumonia'];
  const byPath = new Map(got.predictions.map((p) => [p.path, p]));
  let maxDiff = 0;
  for (const r of rows) {
    const want = new Float32Array(r.probs.buffer.slice(r.probs.byteOffset, r.probs.byteOffset + r.probs.byteLength));
    const p = byPath.get(r.path)!;
    want.forEach((w, c) => (maxDiff = Math.max(maxDiff, Math.abs(w - p.probabilities[c]!))));
    assert.equal(p.predicted, labels[want.indexOf(Math.max(...want))]);
  }
  assert.ok(maxDiff < 1e-5, `max difference to the evaluation ${maxDiff}`);
});

test("the bundle's predict.mjs runs with Node and @tensorflow/tfjs and agrees with the evaluation", async () => {
  const rows = project.db
    .prepare(
      `SELECT r.path || '/' || i.rel_path AS path, p.predicted, p.confidence FROM predictions p JOIN images i ON i.id = p.image_id
       JOIN roots r ON r.id = i.root_id WHERE p.evaluation_id = ? AND i.bit_depth = 8 ORDER BY i.id LIMIT 4`,
    )
    .all(valEvaluation) as { path: string; predicted: number; confidence: number }[];
  assert.equal(rows.length, 4);
  // tests/helpers/tfjs-umbrella maps '@tensorflow/tfjs' to this repository's tfjs packages (cpu backend).
  const res = spawnSync(process.execPath, ['--import', join(root, 'tests/helpers/tfjs-umbrella/register.mjs'), join(dir, 'bundle', 'predict.mjs'), ...rows.map((r) => r.path)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split('\n').map((l) => l.split('\t'));
  const labels = ['effusion', 'normal', 'pneumonia'];
  rows.forEach((r, i) => {
    assert.equal(lines[i]![0], r.path);
    assert.equal(lines[i]![1], labels[r.predicted]);
    assert.ok(Math.abs(Number(lines[i]![2]) - r.confidence) < 1e-3, `${lines[i]![2]} vs ${r.confidence}`);
  });
});

test('a bundle edited by hand fails its checksum check with a clear error', async () => {
  const out = join(dir, 'bundle-tampered');
  await exportModel(out, { formats: ['tfjs'] });
  const weights = readFileSync(join(out, 'weights.bin'));
  weights[100] = weights[100]! ^ 0xff;
  writeFileSync(join(out, 'weights.bin'), weights);
  assert.throws(() => verifyBundle(out), /weights\.bin was changed after export/);
  appendFileSync(join(out, 'labels.json'), ' ');
  const res = loupe('predict', out, join(dir, 'images'));
  assert.equal(res.status, 1);
  assert.match(res.stderr, /failed its checksum check: .*labels\.json was changed after export.*weights\.bin was changed after export|failed its checksum check: .*weights\.bin was changed.*labels\.json was changed/);
});

test('bad input: non-empty folder (unless forced), unwritable folder, a run without a finished model', async () => {
  const busy = join(dir, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'keep.txt'), 'mine');
  await assert.rejects(core.dispatch('export:model', { runId, outDir: busy }), (e: unknown) => e instanceof LoupeError && e.code === 'CONFLICT' && /not empty.*--force/.test(e.message));
  await exportModel(busy, { force: true });
  assert.equal(readFileSync(join(busy, 'keep.txt'), 'utf8'), 'mine');
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  await assert.rejects(core.dispatch('export:model', { runId, outDir: join(file, 'sub') }), /Cannot create .*a part of the path is a file/);
  const [untrained] = createRuns(project, { config: { arch: 'cnn', imageSize: 24, epochs: 1 } }, 'test');
  project.db.prepare(`UPDATE runs SET status = 'stopped' WHERE id = ?`).run(untrained!.id);
  await assert.rejects(core.dispatch('export:model', { runId: untrained!.id, outDir: join(dir, 'never') }), /has no finished model/);
  await assert.rejects(core.dispatch('report:create', { runId: untrained!.id, outPath: join(dir, 'never.pdf') }), /has no finished model/);
});

test('an image of another channel count is converted, and the row says so; unreadable files get their reason', async () => {
  const out = join(dir, 'bundle-ch');
  await exportModel(out, { formats: ['tfjs'] });
  const inputs = join(dir, 'odd-inputs');
  mkdirSync(inputs);
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toFile(join(inputs, 'colour.png'));
  writeFileSync(join(inputs, 'broken.png'), 'not an image at all');
  const csvPath = join(dir, 'odd.csv');
  const res = loupe('predict', out, inputs, join(dir, 'no-such.png'), '--out', csvPath);
  assert.equal(res.status, 0, res.stderr);
  const csv = readFileSync(csvPath, 'utf8').trim().split('\n');
  assert.equal(csv[0], 'path,predicted,confidence,p_effusion,p_normal,p_pneumonia,error,note');
  const colour = csv.find((l) => l.includes('colour.png'))!;
  assert.match(colour, /colour image converted to grayscale/);
  assert.match(csv.find((l) => l.includes('broken.png'))!, /not an image/);
  assert.match(csv.find((l) => l.includes('no-such.png'))!, /no such file/);
  // Paths as the folder or file given names them, never absolute (issue 14).
  assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]).sort(), ['no-such.png', 'odd-inputs/broken.png', 'odd-inputs/colour.png']);
  assert.ok(!csv.join('\n').includes(dir));
  assert.match(res.stderr, /1 image had another channel count and was converted/);
  assert.match(res.stderr, /2 files could not be used/);
});

test('dataset export: ImageFolder tree by split and class, hard-linked when asked, with a labels CSV', async () => {
  const out = join(dir, 'dataset');
  const { jobId } = await core.dispatch('export:dataset', { outDir: out, runId, mode: 'link' });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const r = job.result as ExportReport;
  const snapshot = project.db.prepare('SELECT COUNT(*) FROM run_images WHERE run_id = ?').pluck().get(runId) as number;
  assert.equal(r.images, snapshot);
  assert.equal(r.linked, snapshot);
  assert.deepEqual(readdirSync(out).sort(), ['labels.csv', 'test', 'train', 'val']);
  assert.deepEqual(readdirSync(join(out, 'train')).sort(), ['effusion', 'normal', 'pneumonia']);
  const lines = readFileSync(join(out, 'labels.csv'), 'utf8').trim().split('\n');
  assert.equal(lines.length, snapshot + 1);
  const [path, label, split] = lines[1]!.split(',');
  assert.ok(path!.startsWith(`${split}/${label}/`));
  assert.equal(statSync(join(out, path!)).nlink, 2);
  // The project's current labels and splits, copied: independent files.
  const copied = join(dir, 'dataset-copy');
  const job2 = await core.jobs.wait((await core.dispatch('export:dataset', { outDir: copied })).jobId);
  assert.equal(job2.state, 'succeeded', job2.message);
  const labeled = project.db.prepare(`SELECT COUNT(*) FROM images WHERE status = 'ok' AND excluded = 0 AND class_id IS NOT NULL AND split IS NOT NULL`).pluck().get() as number;
  assert.equal((job2.result as ExportReport).images, labeled);
  assert.equal((job2.result as ExportReport).linked, 0);
  const first = readFileSync(join(copied, 'labels.csv'), 'utf8').trim().split('\n')[1]!.split(',')[0]!;
  assert.equal(statSync(join(copied, first)).nlink, 1);
});

test('PDF report: fonts embedded, the accuracy and every confusion-matrix count in its text, pages render', async (t) => {
  const pdf = join(dir, 'report.pdf');
  const { jobId } = await core.dispatch('report:create', { runId, outPath: pdf, notes: 'Checked by the test suite.', author: 'Test Runner' });
  const job = await core.jobs.wait(jobId);
  assert.equal(job.state, 'succeeded', job.message);
  const ev = getEvaluation(project.db, testEvaluation);
  const m = ev.metrics!;
  const text = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' }).stdout;
  assert.ok(text.includes(m.accuracy.toFixed(4)), 'accuracy');
  assert.ok(text.includes('Test Runner') && text.includes('Checked by the test suite.'));
  // Each matrix row appears as one line: the class name, then its counts in order.
  for (const [i, row] of m.confusionMatrix.matrix.entries()) {
    const line = new RegExp(`^\\s*${ev.classes[i]}\\s+${row.join('\\s+')}\\s*$`, 'm');
    assert.match(text, line, `row ${ev.classes[i]}: ${row.join(' ')}`);
  }
  assert.ok(!/\.png|\.tif/.test(text), 'no file names unless asked');
  const fonts = spawnSync('pdffonts', [pdf], { encoding: 'utf8' }).stdout.trim().split('\n').slice(2);
  assert.ok(fonts.length >= 2 && fonts.every((l) => /\byes\s+yes\b/.test(l)), fonts.join('\n'));
  const pages = join(dir, 'pages');
  mkdirSync(pages);
  assert.equal(spawnSync('pdftoppm', ['-r', '50', '-png', pdf, join(pages, 'p')]).status, 0);
  const rendered = readdirSync(pages);
  assert.equal(rendered.length, (job.result as ExportReport).pages);
  t.diagnostic(`${rendered.length} pages`);
  if (process.env['LOUPE_KEEP_REPORT']) spawnSync('cp', ['-r', pdf, pages, process.env['LOUPE_KEEP_REPORT']]);
});

/** A fixed host token for this test, as strong as the host requires (≥ 128 bits). */
const HOST_TOKEN = 'export-roundtrip-test-token-0123456789abcdef';

test('the browser host exports a bundle through the same contract; refusals come back as typed errors', async () => {
  const host = await startHost({ core, port: 0, staticDir: join(dir, 'no-static'), token: HOST_TOKEN });
  try {
    const call = async (method: string, payload: unknown) => {
      const res = await fetch(`http://127.0.0.1:${host.port}/api/${method}`, { method: 'POST', headers: { [TOKEN_HEADER]: HOST_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify(payload) });
      return (await res.json()) as { ok: boolean; data?: any; error?: { code: string; message: string } };
    };
    const out = join(dir, 'host-bundle');
    const started = await call('export:model', { runId, outDir: out, formats: ['onnx', 'tfjs'] });
    assert.ok(started.ok, JSON.stringify(started.error));
    const job = await core.jobs.wait(started.data.jobId);
    assert.equal(job.state, 'succeeded', job.message);
    assert.ok(existsSync(join(out, 'model.onnx')) && existsSync(join(out, 'manifest.json')));
    const again = await call('export:model', { runId, outDir: out });
    assert.equal(again.ok, false);
    assert.equal(again.error!.code, 'CONFLICT');
    const bad = await call('report:create', { runId, outPath: join(dir, 'host.pdf'), pageSize: 'A3' });
    assert.equal(bad.error!.code, 'VALIDATION');
  } finally {
    await host.close();
  }
});
