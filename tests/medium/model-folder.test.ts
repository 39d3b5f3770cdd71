// Model folders are untrusted (issue 14): a bundle, a run's checkpoint and an imported backbone all load through
// one loader (model-folder.ts), which keeps every weights path inside its folder, bounds every size before
// allocating and, for a bundle, loads only weights its manifest lists with their checksum. The bundle here is a
// real export (exportBundle) of a real tiny LayersModel, tampered with the way an attacker would: checksums updated.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { exportBundle } from '../../electron/core/export/bundle.ts';
import { sha256, verifyBundle, type BundleManifest } from '../../electron/core/export/bundle-format.ts';
import { loadBundleModel } from '../../electron/core/export/bundle-predict.ts';
import { loadModel, saveModel } from '../../electron/core/training/checkpoint.ts';
import { loadRunModel } from '../../electron/core/training/predict.ts';
import { getRun, runDir } from '../../electron/core/training/runs.ts';
import { findBackbone, importBackbone } from '../../electron/core/training/backbones.ts';
import { LoupeError } from '../../shared/contract.ts';
import { syntheticEvaluatedRun, type SyntheticRun } from '../helpers/synthetic-evaluation.ts';
import { tempDir } from '../helpers/tmp.ts';

let dir: string;
let s: SyntheticRun;
let bundle: string;

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [28, 28, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(flat) as tfl.SymbolicTensor });
}

before(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('loupe-model-folder-');
  s = await syntheticEvaluatedRun(dir, { classes: 2, perClass: 4 });
  // The synthetic run's stand-in checkpoint becomes a real (untrained) model of the run's input.
  await saveModel(join(runDir(s.project, s.runId), 'best'), tinyModel());
  bundle = join(dir, 'bundle');
  await exportBundle(s.project, { runId: s.runId, outDir: bundle, formats: ['tfjs'], appVersion: 'test' });
});

/** A copy of the bundle with files replaced and the manifest's checksums updated to match, as an attacker would. */
function tampered(name: string, files: Record<string, string | Buffer>): string {
  const out = join(dir, name);
  rmSync(out, { recursive: true, force: true });
  cpSync(bundle, out, { recursive: true });
  for (const [f, body] of Object.entries(files)) writeFileSync(join(out, f), body);
  resign(out);
  return out;
}

function resign(out: string): void {
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as BundleManifest;
  for (const f of Object.keys(manifest.files)) manifest.files[f] = { sha256: sha256(readFileSync(join(out, f))), bytes: readFileSync(join(out, f)).length };
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
}

function modelJsonWithPaths(paths: string[]): string {
  const json = JSON.parse(readFileSync(join(bundle, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  json.weightsManifest[0]!.paths = paths;
  return JSON.stringify(json);
}

const refused = (pattern: RegExp) => (e: unknown) => e instanceof LoupeError && e.code === 'BAD_INPUT' && pattern.test(e.message);

test('the exported bundle verifies and loads', async () => {
  const model = await loadBundleModel(verifyBundle(bundle));
  assert.deepEqual(model.inputs[0]!.shape, [null, 28, 28, 1]);
  model.dispose();
  // "./weights.bin" is the same listed file.
  const dotted = tampered('bundle-dotted', { 'model.json': modelJsonWithPaths(['./weights.bin']) });
  (await loadBundleModel(verifyBundle(dotted))).dispose();
});

test("a bundle whose model.json points at ../outside.bin (checksums updated) is refused, not loaded", async () => {
  writeFileSync(join(dir, 'outside.bin'), readFileSync(join(bundle, 'weights.bin')));
  const out = tampered('bundle-outside', { 'model.json': modelJsonWithPaths(['../outside.bin']) });
  const verified = verifyBundle(out); // every listed file matches its (updated) checksum
  await assert.rejects(loadBundleModel(verified), refused(/outside\.bin.*outside the model's folder/));
});

test('weights the manifest does not list, or an absolute path, are refused', async () => {
  const out = tampered('bundle-unlisted', { 'model.json': modelJsonWithPaths(['other.bin']) });
  copyFileSync(join(bundle, 'weights.bin'), join(out, 'other.bin'));
  await assert.rejects(loadBundleModel(verifyBundle(out)), refused(/other\.bin.*manifest does not list/));
  const abs = tampered('bundle-absolute', { 'model.json': modelJsonWithPaths([join(dir, 'outside.bin')]) });
  await assert.rejects(loadBundleModel(verifyBundle(abs)), refused(/only file names inside the model's folder/));
});

test('a weights file that is a symlink out of the folder is refused', async () => {
  const out = join(dir, 'bundle-symlink');
  rmSync(out, { recursive: true, force: true });
  cpSync(bundle, out, { recursive: true });
  rmSync(join(out, 'weights.bin'));
  symlinkSync(join(dir, 'outside.bin'), join(out, 'weights.bin'));
  resign(out);
  await assert.rejects(loadBundleModel(verifyBundle(out)), refused(/links outside the model's folder/));
});

test('preprocessing.json and labels.json are checked with bounds before anything is allocated', () => {
  const pre = JSON.parse(readFileSync(join(bundle, 'preprocessing.json'), 'utf8')) as Record<string, unknown>;
  const cases: [string, Record<string, string>, RegExp][] = [
    ['huge', { 'preprocessing.json': JSON.stringify({ ...pre, imageSize: 1_000_000 }) }, /preprocessing\.json is not valid \(imageSize/],
    ['channels', { 'preprocessing.json': JSON.stringify({ ...pre, channels: 4 }) }, /preprocessing\.json is not valid \(channels/],
    ['norm', { 'preprocessing.json': JSON.stringify({ ...pre, normalization: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] } }) }, /one mean and one std per channel/],
    ['one-class', { 'labels.json': '["only"]' }, /labels\.json must list 2 to/],
    ['dupes', { 'labels.json': '["a","a"]' }, /distinct/],
    ['not-json', { 'labels.json': '{' }, /labels\.json cannot be read.*not valid JSON/],
  ];
  for (const [name, files, pattern] of cases) assert.throws(() => verifyBundle(tampered(`bundle-${name}`, files)), refused(pattern), name);
});

test("a bundle whose labels or preprocessing disagree with its model is refused after loading, before predicting", async () => {
  const pre = JSON.parse(readFileSync(join(bundle, 'preprocessing.json'), 'utf8')) as Record<string, unknown>;
  const threeLabels = tampered('bundle-3-labels', { 'labels.json': '["a","b","c"]' });
  await assert.rejects(loadBundleModel(verifyBundle(threeLabels)), refused(/gives \[null,2\].*labels\.json lists 3 classes/));
  const bigger = tampered('bundle-64', { 'preprocessing.json': JSON.stringify({ ...pre, imageSize: 64 }) });
  await assert.rejects(loadBundleModel(verifyBundle(bigger)), refused(/takes \[null,28,28,1\].*preprocessing\.json says 64×64×1/));
});

test('a manifest that is not what Loupe writes is refused with a clear error, not a crash', () => {
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as BundleManifest;
  const cases: [string, unknown, RegExp][] = [
    ['null', null, /not a Loupe bundle manifest/],
    ['entry-null', { ...manifest, files: { ...manifest.files, 'model.json': null } }, /not a Loupe bundle manifest \(files\.model\.json/],
    ['bad-hash', { ...manifest, files: { ...manifest.files, 'labels.json': { sha256: 'x', bytes: 1 } } }, /files\.labels\.json\.sha256/],
  ];
  for (const [name, body, pattern] of cases) {
    const out = join(dir, `bundle-manifest-${name}`);
    rmSync(out, { recursive: true, force: true });
    cpSync(bundle, out, { recursive: true });
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(body));
    assert.throws(() => verifyBundle(out), refused(pattern), name);
  }
  // A newer Loupe's manifest (other fields) asks for an update rather than calling the bundle broken.
  const newer = join(dir, 'bundle-manifest-newer');
  rmSync(newer, { recursive: true, force: true });
  cpSync(bundle, newer, { recursive: true });
  writeFileSync(join(newer, 'manifest.json'), JSON.stringify({ format: manifest.format, version: 99, entries: [] }));
  assert.throws(() => verifyBundle(newer), (e: unknown) => e instanceof LoupeError && e.code === 'UNSUPPORTED' && /version 99.*Update Loupe/.test(e.message));
});

test('weight shapes that would need gigabytes are refused before reading, and sizes must add up', async () => {
  const json = JSON.parse(readFileSync(join(bundle, 'model.json'), 'utf8')) as { weightsManifest: { weights: { shape: number[] }[] }[] };
  json.weightsManifest[0]!.weights[0]!.shape = [1_000_000, 1_000_000];
  const huge = tampered('bundle-huge', { 'model.json': JSON.stringify(json) });
  await assert.rejects(loadBundleModel(verifyBundle(huge)), refused(/more than \d+ bytes/));
  const short = tampered('bundle-short', { 'weights.bin': readFileSync(join(bundle, 'weights.bin')).subarray(8) });
  await assert.rejects(loadBundleModel(verifyBundle(short)), refused(/do not belong together/));
});

test("a run checkpoint whose model.json points outside the run folder does not load", async () => {
  const best = join(runDir(s.project, s.runId), 'best');
  const good = readFileSync(join(best, 'model.json'), 'utf8');
  try {
    const json = JSON.parse(good) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = ['../../../../outside.bin'];
    writeFileSync(join(best, 'model.json'), JSON.stringify(json));
    await assert.rejects(loadRunModel(s.project, getRun(s.project.db, s.runId)), (e: unknown) => e instanceof LoupeError && /outside the model's folder/.test(e.message));
    // Nor is it exported as a bundle that would name those weights.
    await assert.rejects(exportBundle(s.project, { runId: s.runId, outDir: join(dir, 'never-outside'), formats: ['tfjs'], appVersion: 'test' }), refused(/outside the model's folder/));
  } finally {
    writeFileSync(join(best, 'model.json'), good);
  }
  (await loadModel(best)).dispose();
});

test('a backbone folder is checked by the same loader: paths, weights and backbone.json bounds', async () => {
  const src = join(dir, 'foreign-backbone');
  await saveModel(src, tinyModel());
  writeFileSync(join(src, 'model.json'), modelJsonWithPaths(['../outside.bin']));
  // Refused by the import's own check (copy only files inside the folder) before the loader sees it.
  assert.throws(() => importBackbone(s.project, src, 'evil'), refused(/outside (the model's|its) folder/));
  const big = join(dir, 'big-backbone');
  await saveModel(big, tinyModel());
  writeFileSync(join(big, 'backbone.json'), JSON.stringify({ imageSize: 100_000, channels: 1 }));
  assert.throws(() => importBackbone(s.project, big, 'big'), refused(/backbone\.json is not valid \(imageSize/));
  // Placed by hand in the project's backbones/ folder (as a project from someone else may hold it).
  const placed = join(s.project.path, 'backbones', 'placed');
  mkdirSync(placed, { recursive: true });
  await saveModel(placed, tinyModel());
  writeFileSync(join(placed, 'preprocessing.json'), JSON.stringify({ imageSize: 28, channels: 3, resize: 'squash', normalization: { mean: [0], std: [1] }, sixteenBit: 'own-range' }));
  assert.throws(() => findBackbone(s.project, 'placed'), refused(/one mean and one std per channel/));
  // A backbone name from a run config (someone else's project file) cannot reach a folder outside backbones/.
  await saveModel(join(s.project.path, 'outside-model'), tinyModel());
  assert.throws(() => findBackbone(s.project, '../outside-model'), refused(/cannot name a backbone/));
});

test("a run whose stored preprocessing is out of bounds (a project from someone else) has no usable model", async () => {
  const db = s.project.db;
  const good = db.prepare('SELECT preprocessing FROM runs WHERE id = ?').pluck().get(s.runId) as string;
  try {
    db.prepare('UPDATE runs SET preprocessing = ? WHERE id = ?').run(JSON.stringify({ ...JSON.parse(good), imageSize: 1_000_000 }), s.runId);
    assert.equal(getRun(db, s.runId).preprocessing, null);
    await assert.rejects(exportBundle(s.project, { runId: s.runId, outDir: join(dir, 'never'), appVersion: 'test' }), /has no finished model/);
    await assert.rejects(loadRunModel(s.project, getRun(db, s.runId)), /has no trained model/);
  } finally {
    db.prepare('UPDATE runs SET preprocessing = ? WHERE id = ?').run(good, s.runId);
  }
  assert.equal(getRun(db, s.runId).preprocessing!.imageSize, 28);
});
