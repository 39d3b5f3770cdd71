/**
 * k-fold cross-validation read from the stored evaluations (issue 17): each fold run is judged only on the images
 * it held out, the folds are summarized as mean ± std, and their out-of-fold predictions are pooled into one
 * evaluation of every fold image (a confusion matrix, per-class metrics and intervals of their own).
 */
import { LoupeError, type CrossValidation } from '../../../shared/contract.ts';
import {
  aggregateFolds,
  computeMetrics,
  EVALUATION_BOOTSTRAP_SEED,
  poolFolds,
  type EvaluationMetrics,
  type Predictions,
} from '../../../shared/metrics.ts';
import type { Database } from '../db/database.ts';
import { getRun } from '../training/runs.ts';
import { heldOutEvaluationId, staleCount, storedProbs } from './evaluations.ts';

/** The fold runs of a run's k-fold group, in fold order. */
export function foldRuns(db: Database, runId: number): { id: number; fold: number | null }[] {
  const run = getRun(db, runId);
  if (!run.cvGroup) throw new LoupeError('BAD_INPUT', `Run ${runId} is not part of a k-fold cross-validation`);
  return db.prepare('SELECT id, fold FROM runs WHERE cv_group = ? ORDER BY fold, id').all(run.cvGroup) as { id: number; fold: number | null }[];
}

function storedPredictions(db: Database, evaluationId: number, k: number): Predictions {
  const rows = db
    .prepare('SELECT label, probs FROM predictions WHERE evaluation_id = ? AND label IS NOT NULL ORDER BY image_id')
    .all(evaluationId) as { label: number; probs: Buffer }[];
  const probs = new Float32Array(rows.length * k);
  rows.forEach((r, i) => probs.set(storedProbs(r.probs), i * k));
  return { labels: Int32Array.from(rows, (r) => r.label), probs, k };
}

/** Stored evaluations never change, so the pooled metrics (a bootstrap over every fold image) are kept per set. */
const pooledCache = new Map<string, EvaluationMetrics>();
const POOLED_CACHE_SIZE = 8;

function pooledMetrics(db: Database, evaluationIds: number[], k: number): EvaluationMetrics {
  // Ids with their creation time: an id freed by deleting a run can come back for another evaluation.
  const made = db.prepare('SELECT created_at FROM evaluations WHERE id = ?').pluck();
  const key = `${db.name}:${evaluationIds.map((id) => `${id}@${String(made.get(id))}`).join(',')}`;
  const cached = pooledCache.get(key);
  if (cached) return cached;
  const pooled = poolFolds(evaluationIds.map((id) => storedPredictions(db, id, k)));
  const metrics = computeMetrics(pooled, { bootstrap: { seed: EVALUATION_BOOTSTRAP_SEED } });
  if (pooledCache.size >= POOLED_CACHE_SIZE) pooledCache.delete(pooledCache.keys().next().value!);
  pooledCache.set(key, metrics);
  return metrics;
}

/** k-fold results: each fold on its held-out images, mean ± std across the folds, and the pooled out-of-fold evaluation. */
export function crossValidation(db: Database, runId: number): CrossValidation {
  const runs = foldRuns(db, runId).map((r) => ({ ...r, info: getRun(db, r.id) }));
  const countOf = db.prepare('SELECT n FROM evaluations WHERE id = ?').pluck();
  const folds = runs.map((r) => {
    const evaluationId = heldOutEvaluationId(db, r.id);
    return {
      runId: r.id,
      fold: r.fold,
      evaluationId,
      n: evaluationId === null ? null : (countOf.get(evaluationId) as number),
      size: r.info.valImages,
    };
  });
  const evaluated = folds.filter((f) => f.evaluationId !== null);
  const metricsOf = db.prepare('SELECT metrics FROM evaluations WHERE id = ?').pluck();
  const perFold = evaluated.map((f) => JSON.parse(metricsOf.get(f.evaluationId) as string) as EvaluationMetrics);
  const aggregate = perFold.length ? aggregateFolds(perFold) : null;
  const classes = runs[0]!.info.classes;
  const sameClasses = runs.every((r) => r.info.classes.join('\n') === classes.join('\n'));
  let pendingReason: string | null = null;
  if (evaluated.length < folds.length) {
    const missing = folds.filter((f) => f.evaluationId === null).map((f) => (f.fold === null ? `run ${f.runId}` : `fold ${f.fold + 1}`));
    pendingReason = `Evaluate every fold on its held-out images to pool them (not yet: ${missing.join(', ')})`;
  } else if (!sameClasses) {
    pendingReason = 'The fold runs were trained on different classes: their predictions cannot be pooled';
  }
  if (pendingReason) return { folds, aggregate, pooled: null, pendingReason };
  const evaluationIds = evaluated.map((f) => f.evaluationId!);
  return {
    folds,
    aggregate,
    pooled: {
      evaluationIds,
      classes,
      n: evaluated.reduce((a, f) => a + f.n!, 0),
      stale: evaluationIds.reduce((a, id) => a + staleCount(db, id, classes, 'val'), 0),
      metrics: pooledMetrics(db, evaluationIds, classes.length),
    },
    pendingReason: null,
  };
}
