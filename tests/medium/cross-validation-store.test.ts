// Issue 17 without training: fold runs created with their snapshots on a real project.db, evaluations stored as
// evaluate.ts stores them (seeded probabilities). A fold run's validation targets are exactly the fold it held
// out; an evaluation that touched its training images (as Loupe made them before) never counts as out of fold;
// the pooled evaluation is the metrics of the fold predictions concatenated; staleness and label errors follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeMetrics, EVALUATION_BOOTSTRAP_SEED, poolFolds, type Predictions } from '../../shared/metrics.ts';
import { seededRandom } from '../../shared/random.ts';
import { assignKFolds, assignSplits } from '../../electron/core/splits/splits.ts';
import { createRuns } from '../../electron/core/training/run-service.ts';
import { evaluationTargets, storeEvaluation } from '../../electron/core/evaluation/evaluate.ts';
import { crossValidation } from '../../electron/core/evaluation/cross-validation.ts';
import { heldOutEvaluationId, labelErrorCandidates } from '../../electron/core/evaluation/evaluations.ts';
import { seedProject } from '../helpers/seed-project.ts';
import { tempDir } from '../helpers/tmp.ts';

function predictions(imageIds: number[], labels: number[], k: number, seed: number): Predictions {
  const random = seededRandom(seed);
  const probs = new Float32Array(imageIds.length * k);
  labels.forEach((label, i) => {
    const w = Array.from({ length: k }, (_, c) => random() + (c === label ? 1.2 : 0));
    const sum = w.reduce((a, b) => a + b, 0);
    w.forEach((v, c) => (probs[i * k + c] = v / sum));
  });
  return { labels: Int32Array.from(labels), probs, k };
}

test('each fold run is judged on its held-out fold only; the pooled evaluation is the folds concatenated', () => {
  const { project, classIds } = seedProject(tempDir(), { perClass: [14, 12, 10] });
  const db = project.db;
  assignSplits(db, { ratios: [0.7, 0.15, 0.15], seed: 1 });
  assignKFolds(db, { k: 3, seed: 1 });
  const runs = createRuns(project, { config: { arch: 'cnn', imageSize: 28, channels: 1, folds: true } }, 'test');
  assert.deepEqual(runs.map((r) => r.fold), [0, 1, 2]);
  const k = runs[0]!.classes.length;
  const folds: Predictions[] = [];
  const ids = (sql: string, ...p: unknown[]) => db.prepare(sql).pluck().all(...p) as number[];

  for (const run of runs) {
    const { targets } = evaluationTargets(project, run.id, 'val');
    const heldOut = ids(`SELECT image_id FROM run_images WHERE run_id = ? AND split = 'val' ORDER BY image_id`, run.id);
    const trained = new Set(ids(`SELECT image_id FROM run_images WHERE run_id = ? AND split = 'train'`, run.id));
    assert.deepEqual(targets.map((t) => t.imageId), heldOut, `fold ${run.fold! + 1}: its held-out images, in id order`);
    assert.deepEqual(heldOut, ids(`SELECT id FROM images WHERE fold = ? AND split <> 'test' ORDER BY id`, run.fold));
    assert.ok(targets.every((t) => !trained.has(t.imageId)));
    // The project's val split, which today's fold runs mostly trained on, is not what they are judged on.
    assert.ok(ids(`SELECT id FROM images WHERE split = 'val'`).some((id) => trained.has(id)), 'the val split overlaps the fold’s training images');

    // As Loupe stored it before issue 17: the fold's model on the project's val split. It never counts.
    const legacy = ids(`SELECT id FROM images WHERE split = 'val' ORDER BY id`);
    const legacyLabels = legacy.map((id) => classIds.indexOf(db.prepare('SELECT class_id FROM images WHERE id = ?').pluck().get(id) as number));
    const old = predictions(legacy, legacyLabels, k, 99);
    storeEvaluation(db, { runId: run.id, split: 'val', modelSha256: 'x', imageIds: legacy, labels: legacyLabels, probs: old.probs, k, notes: [] });
    assert.equal(heldOutEvaluationId(db, run.id), null, 'an evaluation on images the fold trained on is not out of fold');
  }
  let cv = crossValidation(db, runs[0]!.id);
  assert.equal(cv.pooled, null);
  assert.match(cv.pendingReason!, /Evaluate every fold on its held-out images to pool them \(not yet: fold 1, fold 2, fold 3\)/);
  assert.throws(() => labelErrorCandidates(db, runs[0]!.id), /Evaluate the folds on their held-out images first/);

  for (const run of runs) {
    const { targets } = evaluationTargets(project, run.id, 'val');
    const p = predictions(targets.map((t) => t.imageId), targets.map((t) => t.label!), k, 7 + run.fold!);
    folds.push(p);
    const id = storeEvaluation(db, { runId: run.id, split: 'val', modelSha256: 'x', imageIds: targets.map((t) => t.imageId), labels: targets.map((t) => t.label), probs: p.probs, k, notes: [] });
    assert.equal(heldOutEvaluationId(db, run.id), id);
  }
  // A later evaluation on the val split does not displace a fold's held-out one.
  const valIds = ids(`SELECT id FROM images WHERE split = 'val' ORDER BY id`);
  const valLabels = valIds.map((id) => classIds.indexOf(db.prepare('SELECT class_id FROM images WHERE id = ?').pluck().get(id) as number));
  const held = heldOutEvaluationId(db, runs[1]!.id);
  storeEvaluation(db, { runId: runs[1]!.id, split: 'val', modelSha256: 'x', imageIds: valIds, labels: valLabels, probs: predictions(valIds, valLabels, k, 5).probs, k, notes: [] });
  assert.equal(heldOutEvaluationId(db, runs[1]!.id), held);

  cv = crossValidation(db, runs[2]!.id);
  const foldImages = ids(`SELECT id FROM images WHERE fold IS NOT NULL AND split <> 'test'`).length;
  assert.deepEqual(cv.folds.map((f) => f.n), cv.folds.map((f) => f.size));
  assert.equal(cv.pooled!.n, foldImages);
  assert.deepEqual(cv.pooled!.metrics, computeMetrics(poolFolds(folds), { bootstrap: { seed: EVALUATION_BOOTSTRAP_SEED } }));
  assert.equal(cv.pooled!.metrics.confusionMatrix.matrix.flat().reduce((a, b) => a + b, 0), foldImages);
  assert.equal(cv.aggregate!.perFold.length, 3);
  assert.equal(cv.pooled!.stale, 0);

  const errors = labelErrorCandidates(db, runs[1]!.id);
  assert.equal(errors.outOfFold, true);
  const pooledIds = new Set(ids(`SELECT image_id FROM predictions WHERE evaluation_id IN (${cv.pooled!.evaluationIds.join(',')})`));
  for (const c of errors.candidates) assert.ok(pooledIds.has(c.imageId), 'candidates come from the out-of-fold predictions');

  // Relabeling a fold image makes the pooled evaluation stale.
  const moved = [...pooledIds][0]!;
  const current = db.prepare('SELECT class_id FROM images WHERE id = ?').pluck().get(moved) as number;
  db.prepare('UPDATE images SET class_id = ? WHERE id = ?').run(classIds.find((c) => c !== current), moved);
  assert.equal(crossValidation(db, runs[0]!.id).pooled!.stale, 1);
  project.close();
});

test('folds without a split: cross-validation trains on them; a plain run says why not instead of clearing them', () => {
  const { project } = seedProject(tempDir(), { perClass: [9, 9] });
  const db = project.db;
  assignKFolds(db, { k: 3, seed: 2 });
  assert.equal(db.prepare('SELECT COUNT(*) FROM images WHERE split IS NOT NULL').pluck().get(), 0);
  assert.throws(
    () => createRuns(project, { config: { arch: 'cnn', imageSize: 28, channels: 1 } }, 'test'),
    /in k folds but in no train\/validation split: train with cross-validation/,
  );
  assert.equal(db.prepare('SELECT COUNT(*) FROM images WHERE fold IS NOT NULL').pluck().get(), 18, 'the folds are kept');
  const runs = createRuns(project, { config: { arch: 'cnn', imageSize: 28, channels: 1, folds: true } }, 'test');
  assert.deepEqual(runs.map((r) => [r.trainImages, r.valImages]), [[12, 6], [12, 6], [12, 6]]);
  project.close();
});

test('a label error is found in a class with a single validation image', () => {
  // The threshold is the class's mean self-confidence; a class whose only validation image is misclassified
  // has that image's confidence as its mean, and it must still be listed.
  const { project, classIds } = seedProject(tempDir(), { perClass: [8, 8] });
  const db = project.db;
  const ids = db.prepare('SELECT id, class_id FROM images ORDER BY id').all() as { id: number; class_id: number }[];
  const lone = ids.find((r) => r.class_id === classIds[1])!;
  const others = ids.filter((r) => r.class_id === classIds[0]).slice(0, 3);
  db.prepare(`UPDATE images SET split = 'train'`).run();
  for (const r of [lone, ...others]) db.prepare(`UPDATE images SET split = 'val' WHERE id = ?`).run(r.id);
  const [run] = createRuns(project, { config: { arch: 'cnn', imageSize: 28, channels: 1 } }, 'test');
  const { targets } = evaluationTargets(project, run!.id, 'val');
  const labelOf = (id: number) => targets.find((t) => t.imageId === id)!.label!;
  // Class 0's three images are right; the lone class-1 image is predicted as class 0.
  const probs = new Float32Array(targets.length * 2);
  targets.forEach((t, i) => {
    const p1 = t.imageId === lone.id ? 0.2 : 0.1;
    probs[i * 2] = 1 - p1;
    probs[i * 2 + 1] = p1;
  });
  storeEvaluation(db, { runId: run!.id, split: 'val', modelSha256: 'x', imageIds: targets.map((t) => t.imageId), labels: targets.map((t) => t.label), probs, k: 2, notes: [] });
  assert.equal(labelOf(lone.id), 1);
  const { candidates } = labelErrorCandidates(db, run!.id);
  assert.deepEqual(candidates.map((c) => c.imageId), [lone.id]);
  project.close();
});
