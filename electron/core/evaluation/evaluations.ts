/**
 * Reading evaluations in the main process: summaries with staleness (an image relabeled since the evaluation
 * makes it stale; the stored numbers never change silently), label-error candidates from out-of-fold
 * predictions, and accepting the model's suggestions on unlabeled images (one undoable action).
 */
import {
  LoupeError,
  type EditResult,
  type EvaluationDetail,
  type EvaluationSummary,
  type LabelErrorCandidate,
} from '../../../shared/contract.ts';
import type { EvaluationMetrics } from '../../../shared/metrics.ts';
import type { PreprocessPreset } from '../../../shared/preprocess-presets.ts';
import type { Database } from '../db/database.ts';
import { applyValues } from '../labels/edits.ts';
import { getRun } from '../training/runs.ts';

interface Row {
  id: number;
  run_id: number | null;
  external_model_id: number | null;
  split: 'val' | 'test' | 'unlabeled';
  created_at: string;
  n: number;
  model_sha256: string;
  metrics: string | null;
  notes: string;
}

/** A prediction's stored probabilities (float32 × classes), copied out of the row's blob. */
export function storedProbs(blob: Buffer): Float32Array {
  return new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));
}

/** How many predictions' stored labels differ from the images' labels now (class names compared). */
export function staleCount(db: Database, evaluationId: number, classes: string[], split: string): number {
  const labeled = split === 'unlabeled'
    ? // Predictions on unlabeled images go stale when the image gets a label (the suggestion was acted on).
      `SELECT COUNT(*) FROM predictions p JOIN images i ON i.id = p.image_id WHERE p.evaluation_id = ? AND i.class_id IS NOT NULL`
    : `SELECT COUNT(*) FROM predictions p
       LEFT JOIN images i ON i.id = p.image_id
       LEFT JOIN classes c ON c.id = i.class_id
       LEFT JOIN json_each(?) j ON j.key = p.label
       WHERE p.evaluation_id = ? AND (i.id IS NULL OR c.name IS NULL OR lower(c.name) <> lower(j.value))`;
  return (split === 'unlabeled'
    ? db.prepare(labeled).pluck().get(evaluationId)
    : db.prepare(labeled).pluck().get(JSON.stringify(classes), evaluationId)) as number;
}

interface ExternalRow {
  file_name: string;
  sha256: string;
  classes: string;
  preprocess: PreprocessPreset | 'bundle';
  image_size: number;
}

function externalModel(db: Database, id: number): ExternalRow {
  return db.prepare('SELECT file_name, sha256, classes, preprocess, image_size FROM external_models WHERE id = ?').get(id) as ExternalRow;
}

/** The class names of the model an evaluation judged: its run's, or the external model's. */
function modelClasses(db: Database, r: Row): string[] {
  return r.run_id !== null ? getRun(db, r.run_id).classes : (JSON.parse(externalModel(db, r.external_model_id!).classes) as string[]);
}

function summarize(db: Database, r: Row, classes: string[]): EvaluationSummary {
  const m = r.metrics ? (JSON.parse(r.metrics) as EvaluationMetrics) : null;
  const ext = r.external_model_id === null ? null : externalModel(db, r.external_model_id);
  return {
    id: r.id,
    runId: r.run_id,
    external: ext && { fileName: ext.file_name, sha256: ext.sha256, preprocess: ext.preprocess, imageSize: ext.image_size },
    split: r.split,
    createdAt: r.created_at,
    n: r.n,
    modelSha256: r.model_sha256,
    accuracy: m?.accuracy ?? null,
    macroAuc: m?.auc.macro ?? null,
    stale: staleCount(db, r.id, classes, r.split),
    notes: JSON.parse(r.notes) as string[],
  };
}

export function listEvaluations(db: Database, runId: number): EvaluationSummary[] {
  const run = getRun(db, runId);
  const rows = db.prepare('SELECT * FROM evaluations WHERE run_id = ? ORDER BY id DESC').all(runId) as Row[];
  return rows.map((r) => summarize(db, r, run.classes));
}

/** Evaluations of external models (issue 12), newest first. */
export function listExternalEvaluations(db: Database): EvaluationSummary[] {
  const rows = db.prepare('SELECT * FROM evaluations WHERE external_model_id IS NOT NULL ORDER BY id DESC').all() as Row[];
  return rows.map((r) => summarize(db, r, modelClasses(db, r)));
}

export function getEvaluation(db: Database, evaluationId: number): EvaluationDetail {
  const r = db.prepare('SELECT * FROM evaluations WHERE id = ?').get(evaluationId) as Row | undefined;
  if (!r) throw new LoupeError('NOT_FOUND', `No evaluation with id ${evaluationId}`);
  const classes = modelClasses(db, r);
  return { ...summarize(db, r, classes), classes, metrics: r.metrics ? (JSON.parse(r.metrics) as EvaluationMetrics) : null };
}

/**
 * The latest evaluation of a fold run on its own held-out images: every image it predicted is in the fold the run
 * held out. Evaluations made before issue 17 ran a fold's model on the project's val split, most of which it had
 * trained on; they never count as out-of-fold.
 */
export function heldOutEvaluationId(db: Database, runId: number): number | null {
  const id = db
    .prepare(
      `SELECT e.id FROM evaluations e WHERE e.run_id = ? AND e.split = 'val' AND NOT EXISTS (
         SELECT 1 FROM predictions p WHERE p.evaluation_id = e.id AND NOT EXISTS (
           SELECT 1 FROM run_images ri WHERE ri.run_id = e.run_id AND ri.image_id = p.image_id AND ri.split = 'val'))
       ORDER BY e.id DESC LIMIT 1`,
    )
    .pluck()
    .get(runId) as number | undefined;
  return id ?? null;
}

/**
 * Images whose given label looks wrong, ranked by self-confidence (Cleanlab's confident learning, simplified):
 * the held-out model put its top probability elsewhere, and the probability of the given label is below that
 * class's average self-confidence. For a k-fold run, the out-of-fold predictions of its group: each fold's
 * evaluation on its own held-out images (out of fold only once every fold has one).
 */
export function labelErrorCandidates(db: Database, runId: number, limit = 500): { candidates: LabelErrorCandidate[]; outOfFold: boolean } {
  const run = getRun(db, runId);
  const runIds = run.cvGroup
    ? (db.prepare('SELECT id FROM runs WHERE cv_group = ?').pluck().all(run.cvGroup) as number[])
    : [runId];
  const latestVal = db.prepare(`SELECT id FROM evaluations WHERE run_id = ? AND split = 'val' ORDER BY id DESC LIMIT 1`).pluck();
  const evalIds = runIds
    .map((id) => (run.cvGroup ? heldOutEvaluationId(db, id) : ((latestVal.get(id) as number | undefined) ?? null)))
    .filter((id): id is number => id !== null);
  if (evalIds.length === 0) {
    throw new LoupeError(
      'BAD_INPUT',
      run.cvGroup
        ? `Evaluate the folds on their held-out images first (Evaluate, or \`loupe eval --run ${runId} --folds\`)`
        : 'Evaluate the run on its validation split first',
    );
  }
  const rows = db
    .prepare(
      `SELECT image_id, label, predicted, confidence, label_probability FROM predictions
       WHERE evaluation_id IN (${evalIds.map(() => '?').join(',')}) AND label IS NOT NULL`,
    )
    .all(...evalIds) as { image_id: number; label: number; predicted: number; confidence: number; label_probability: number }[];
  const sum = new Map<number, { s: number; n: number }>();
  for (const r of rows) {
    const t = sum.get(r.label) ?? { s: 0, n: 0 };
    t.s += r.label_probability;
    t.n++;
    sum.set(r.label, t);
  }
  const candidates = rows
    // At or below the class's mean self-confidence: a class whose only image is misclassified has that image's
    // own confidence as its mean, and the image is still a candidate.
    .filter((r) => r.predicted !== r.label && r.label_probability <= sum.get(r.label)!.s / sum.get(r.label)!.n)
    .sort((a, b) => a.label_probability - b.label_probability)
    .slice(0, limit)
    .map((r) => ({
      imageId: r.image_id,
      given: run.classes[r.label]!,
      suggested: run.classes[r.predicted]!,
      selfConfidence: r.label_probability,
      suggestedConfidence: r.confidence,
    }));
  return { candidates, outOfFold: Boolean(run.cvGroup) && evalIds.length === runIds.length };
}

/**
 * Labels unlabeled images with the model's suggestion: the given images, or every one at or above a confidence.
 * Images labeled meanwhile are left alone. One transaction, one undo step.
 */
export function acceptSuggestions(
  db: Database,
  evaluationId: number,
  pick: { imageIds?: number[]; minConfidence?: number },
): EditResult {
  const ev = getEvaluation(db, evaluationId);
  const classIds = new Map(
    (db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.name.toLowerCase(), c.id]),
  );
  const rows = db
    .prepare(
      `SELECT p.image_id, p.predicted, p.confidence FROM predictions p JOIN images i ON i.id = p.image_id
       WHERE p.evaluation_id = ? AND i.class_id IS NULL AND i.status = 'ok'`,
    )
    .all(evaluationId) as { image_id: number; predicted: number; confidence: number }[];
  const wanted = pick.imageIds ? new Set(pick.imageIds) : null;
  const chosen = rows.filter((r) => (wanted ? wanted.has(r.image_id) : r.confidence >= (pick.minConfidence ?? 1.01)));
  const changes = chosen.flatMap((r) => {
    const id = classIds.get(ev.classes[r.predicted]!.toLowerCase());
    return id === undefined ? [] : [{ imageId: r.image_id, field: 'class_id' as const, value: id }];
  });
  if (changes.length === 0) return applyValues(db, 'Accept suggestions', [], 'suggestion');
  const label = pick.imageIds
    ? `Accept ${changes.length} suggestion${changes.length > 1 ? 's' : ''}`
    : `Accept ${changes.length} suggestions ≥ ${Math.round((pick.minConfidence ?? 0) * 100)}%`;
  return applyValues(db, label, changes, 'suggestion');
}
