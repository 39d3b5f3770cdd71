// Issue 17: cross-validation that is cross-validation, through the `loupe` CLI as a user runs it, on the three
// layouts of the issue: a ratio split then folds; a locked test set from a test/ folder with no val split; and
// ratios with folds in one command. For every fold run, the images it is evaluated on and the images it trained
// on are disjoint and the evaluated images are exactly its held-out fold (checked in project.db and in the CLI's
// out-of-fold predictions file), and the pooled metrics equal the metrics computed from that file.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { writeSampleImages, SAMPLE_CLASSES } from '../../electron/core/sample/sample-project.ts';
import { parseCsv } from '../../shared/csv.ts';
import { computeMetrics } from '../../shared/metrics.ts';
import type { CrossValidation } from '../../shared/contract.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PER_CLASS = 12;
const TRAIN = ['--arch', 'lenet5', '--image-size', '24', '--channels', '1', '--epochs', '1', '--batch', '8'];
const TRAIN_FAST = ['--augment', 'none', '--dropout', '0', '--no-early-stop', '--seed', '5'];

let dir: string;

before(() => {
  dir = tempDir();
});

function loupe(...args: string[]): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'loupe.js'), ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, LOUPE_CONFIG_DIR: join(dir, 'config') },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `loupe ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function sampleImages(target: string): Promise<void> {
  await writeSampleImages(target, { perClass: PER_CLASS, signal: new AbortController().signal, progress: () => {} });
}

interface PooledJson {
  n: number;
  accuracy: number;
  balancedAccuracy: number;
  kappa: number | null;
  auc: number | null;
  topK: number[];
  perClass: { class: string; precision: number; recall: number; specificity: number; f1: number; support: number }[];
  confusionMatrix: { labels: string[]; matrix: number[][] };
  expectedCalibrationError: number;
  confidenceIntervals: { accuracy: { lower: number; upper: number } } | null;
}

/** `train --folds` then `eval --folds --json --predictions`, and every check of the issue on the result. */
function crossValidateAndCheck(project: string): { foldImages: number; testImages: number } {
  const trained = loupe('train', project, '--folds', ...TRAIN, ...TRAIN_FAST, '--json')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => !('type' in l));
  assert.equal(trained.length, 3, 'one run per fold');
  for (const r of trained) assert.equal(r['status'], 'finished', String(r['error']));
  const oof = join(project, '..', `${project.split('/').pop()}-oof.csv`);
  const out = JSON.parse(loupe('eval', project, '--run', String(trained[0]!['runId']), '--folds', '--json', '--predictions', oof)) as Omit<
    CrossValidation,
    'pooled'
  > & { pooled: PooledJson };

  const db = new Database(join(project, 'project.db'), { readonly: true });
  try {
    const ids = (sql: string, ...params: unknown[]) => new Set(db.prepare(sql).pluck().all(...params) as number[]);
    const foldImages = ids(
      `SELECT id FROM images WHERE fold IS NOT NULL AND split IS NOT 'test' AND class_id IS NOT NULL AND status = 'ok' AND excluded = 0`,
    );
    const testImages = ids(`SELECT id FROM images WHERE split = 'test'`);
    assert.equal(out.folds.length, 3);
    const union = new Set<number>();
    for (const f of out.folds) {
      assert.ok(f.evaluationId !== null, `fold ${f.fold} evaluated`);
      const evaluated = ids('SELECT image_id FROM predictions WHERE evaluation_id = ?', f.evaluationId);
      const trainedOn = ids(`SELECT image_id FROM run_images WHERE run_id = ? AND split = 'train'`, f.runId);
      const heldOut = ids('SELECT id FROM images WHERE fold = ? AND id IN (SELECT image_id FROM run_images WHERE run_id = ?)', f.fold, f.runId);
      assert.ok(trainedOn.size > 0);
      assert.deepEqual([...evaluated].filter((id) => trainedOn.has(id)), [], `fold ${f.fold! + 1} is never evaluated on an image it trained on`);
      assert.deepEqual([...evaluated].sort(), [...heldOut].sort(), `fold ${f.fold! + 1} is evaluated on exactly its held-out fold`);
      assert.equal(f.n, evaluated.size);
      assert.equal(f.size, evaluated.size, 'per-fold n is the fold size');
      for (const id of evaluated) {
        assert.ok(!union.has(id), 'no image is evaluated by two folds');
        union.add(id);
      }
    }
    assert.deepEqual([...union].sort(), [...foldImages].sort(), 'the folds together evaluate every fold image');
    assert.equal(out.pooled.n, foldImages.size);

    // The predictions file: one row per fold image, its fold, never predicted by a model that trained on it.
    const parsed = parseCsv(readFileSync(oof, 'utf8'));
    assert.equal(parsed.error, null);
    const [header, ...rows] = parsed.rows.map((r) => r.fields);
    const classes = out.pooled.confusionMatrix.labels;
    assert.deepEqual(header, ['path', 'label', 'predicted', ...classes.map((c) => `p_${c}`), 'fold']);
    assert.equal(rows.length, foldImages.size);
    const byPath = new Map(
      (db.prepare('SELECT id, rel_path, fold FROM images').all() as { id: number; rel_path: string; fold: number | null }[]).map((r) => [r.rel_path, r]),
    );
    const runOfFold = new Map(out.folds.map((f) => [f.fold! + 1, f.runId]));
    const seen = new Set<number>();
    for (const row of rows) {
      const image = byPath.get(row[0]!)!;
      const fold = Number(row[row.length - 1]);
      assert.equal(fold, image.fold! + 1, `${row[0]} is in fold ${fold}`);
      const trainedOn = db.prepare(`SELECT 1 FROM run_images WHERE run_id = ? AND image_id = ? AND split = 'train'`).get(runOfFold.get(fold), image.id);
      assert.equal(trainedOn, undefined, `${row[0]} was predicted by a model that trained on it`);
      seen.add(image.id);
    }
    assert.deepEqual([...seen].sort(), [...foldImages].sort());

    // The pooled metrics are the metrics of the file's predictions.
    const k = classes.length;
    const fromFile = computeMetrics(
      {
        labels: Int32Array.from(rows, (r) => classes.indexOf(r[1]!)),
        probs: Float32Array.from(rows.flatMap((r) => r.slice(3, 3 + k).map(Number))),
        k,
      },
      { bootstrap: false },
    );
    rows.forEach((r, i) => assert.equal(classes[argmax(r.slice(3, 3 + k).map(Number))], r[2], `row ${i} predicted`));
    assert.deepEqual(out.pooled.confusionMatrix.matrix, fromFile.confusionMatrix.matrix);
    const same = (a: number | null, b: number | null, what: string) =>
      assert.ok(a === b || (a !== null && b !== null && Math.abs(a - b) < 1e-12), `${what}: ${a} vs ${b}`);
    same(out.pooled.accuracy, fromFile.accuracy, 'accuracy');
    same(out.pooled.balancedAccuracy, fromFile.balancedAccuracy, 'balanced accuracy');
    same(out.pooled.kappa, fromFile.kappa, 'kappa');
    same(out.pooled.auc, fromFile.auc.macro, 'AUC');
    same(out.pooled.expectedCalibrationError, fromFile.calibration.ece, 'ECE');
    out.pooled.topK.forEach((v, i) => same(v, fromFile.topK[i]!, `top-${i + 1}`));
    out.pooled.perClass.forEach((c, i) => {
      assert.equal(c.support, fromFile.perClass[i]!.support);
      for (const key of ['precision', 'recall', 'specificity', 'f1'] as const) same(c[key], fromFile.perClass[i]![key], `${key} of ${c.class}`);
    });
    const ci = out.pooled.confidenceIntervals!;
    assert.ok(ci.accuracy.lower <= out.pooled.accuracy && out.pooled.accuracy <= ci.accuracy.upper, 'a CI around the pooled accuracy');
    // Per-fold table and mean ± std beside it.
    assert.equal(out.aggregate!.perFold.length, 3);
    assert.equal(out.aggregate!.summary.accuracy.folds, 3);

    // Label-error candidates come from these out-of-fold predictions, and say so.
    const errors = JSON.parse(loupe('label-errors', project, '--run', String(trained[1]!['runId']), '--json')) as { outOfFold: boolean; candidates: { imageId: number }[] };
    assert.equal(errors.outOfFold, true);
    for (const c of errors.candidates) assert.ok(foldImages.has(c.imageId));
    assert.match(loupe('label-errors', project, '--run', String(trained[1]!['runId'])), /out-of-fold predictions/);
    return { foldImages: foldImages.size, testImages: testImages.size };
  } finally {
    db.close();
  }
}

function argmax(values: number[]): number {
  let best = 0;
  values.forEach((v, i) => v > values[best]! && (best = i));
  return best;
}

test('a ratio split, then folds: each fold is judged on its own held-out images, not on the val split it trained on', async () => {
  const images = join(dir, 'a-images');
  await sampleImages(images);
  const project = join(dir, 'a');
  loupe('import', project, images);
  loupe('split', project, '--ratios', '0.7,0.15,0.15', '--seed', '1');
  const text = loupe('split', project, '--folds', '3', '--seed', '1');
  assert.match(text, /run k trains on the other folds and is evaluated only on fold k/);
  const { foldImages, testImages } = crossValidateAndCheck(project);
  assert.equal(foldImages + testImages, PER_CLASS * SAMPLE_CLASSES.length);
});

test('a locked test set from a test/ folder and no val split: folds over the rest, the test set untouched', async () => {
  const all = join(dir, 'b-all');
  await sampleImages(all);
  const images = join(dir, 'b-images');
  for (const cls of SAMPLE_CLASSES) {
    for (const split of ['train', 'test']) mkdirSync(join(images, split, cls), { recursive: true });
    readdirSync(join(all, cls))
      .sort()
      .forEach((f, i) => renameSync(join(all, cls, f), join(images, i < 3 ? 'test' : 'train', cls, f)));
  }
  const project = join(dir, 'b');
  loupe('import', project, images);
  const text = loupe('split', project, '--folds', '3', '--seed', '1');
  assert.match(text, /Test set: locked/);
  assert.match(text, /The 9 test images \(locked\) are in no fold/);
  const { foldImages, testImages } = crossValidateAndCheck(project);
  assert.equal(testImages, 9);
  assert.equal(foldImages, (PER_CLASS - 3) * SAMPLE_CLASSES.length);
});

test('ratios and folds in one command: the test share held out, everything else in the folds', async () => {
  const images = join(dir, 'c-images');
  await sampleImages(images);
  const project = join(dir, 'c');
  loupe('import', project, images);
  const summary = JSON.parse(loupe('split', project, '--ratios', '0.7,0.15,0.15', '--folds', '3', '--seed', '1', '--json')) as {
    totals: { test: number; unassigned: number; total: number };
    folds: number;
    foldCounts: number[];
  };
  assert.equal(summary.folds, 3);
  assert.equal(summary.totals.unassigned, 0);
  assert.ok(summary.totals.test > 0);
  assert.equal(summary.foldCounts.reduce((a, b) => a + b, 0) + summary.totals.test, summary.totals.total);
  const { foldImages, testImages } = crossValidateAndCheck(project);
  assert.equal(testImages, summary.totals.test);
  assert.equal(foldImages + testImages, summary.totals.total);
});
