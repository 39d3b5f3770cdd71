/**
 * Evaluating a run, in the training process: the run's model over the project's val or test images (a k-fold
 * run's "val" is the fold it held out) or its unlabeled ones (model-assisted labeling), every metric of
 * shared/metrics.ts, and the predictions stored with the run and the weights they came from. Classes are mapped by
 * name; images of classes the run does not know are left out and reported. Nothing else in the project changes.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import { computeMetrics, EVALUATION_BOOTSTRAP_SEED, type EvaluationMetrics } from '../../../shared/metrics.ts';
import type { Database } from '../db/database.ts';
import type { Project } from '../project/project.ts';
import { checkpointDir } from '../training/checkpoint-paths.ts';
import { loadRunModel, predictImages } from '../training/predict.ts';
import { getRun, runDir } from '../training/runs.ts';

export type EvaluationSplit = 'val' | 'test' | 'unlabeled';

export interface EvaluateTask {
  runId: number;
  split: EvaluationSplit;
}

interface Target {
  imageId: number;
  label: number | null;
}

/** The images an evaluation covers, with their labels mapped to the run's class indices. */
export function evaluationTargets(project: Project, runId: number, split: EvaluationSplit): { targets: Target[]; notes: string[] } {
  const run = getRun(project.db, runId);
  const notes: string[] = [];
  if (split === 'unlabeled') {
    const ids = project.db
      .prepare(`SELECT id FROM images WHERE status = 'ok' AND class_id IS NULL AND excluded = 0 ORDER BY id`)
      .pluck()
      .all() as number[];
    return { targets: ids.map((imageId) => ({ imageId, label: null })), notes };
  }
  // A fold run's validation images are the fold it held out (its snapshot), never the project's val split: most
  // of that it trained on (issue 17). Labels are today's, as for any evaluation.
  const heldOut = split === 'val' && run.fold !== null;
  const rows = project.db
    .prepare(
      heldOut
        ? `SELECT i.id, c.name FROM run_images ri JOIN images i ON i.id = ri.image_id JOIN classes c ON c.id = i.class_id
           WHERE ri.run_id = ? AND ri.split = 'val' AND i.status = 'ok' AND i.excluded = 0 ORDER BY i.id`
        : `SELECT i.id, c.name FROM images i JOIN classes c ON c.id = i.class_id
           WHERE i.split = ? AND i.status = 'ok' AND i.excluded = 0 ORDER BY i.id`,
    )
    .all(heldOut ? runId : split) as { id: number; name: string }[];
  if (heldOut) {
    const size = project.db.prepare(`SELECT COUNT(*) FROM run_images WHERE run_id = ? AND split = 'val'`).pluck().get(runId) as number;
    if (size > rows.length) {
      notes.push(`${size - rows.length} of fold ${run.fold! + 1}'s ${size} held-out images left out: unlabeled, excluded or unreadable since training`);
    }
  }
  const mapped = mapByClassName(rows, run.classes, 'the run was trained without that class');
  notes.push(...mapped.notes);
  const missing = run.classes.filter((c) => !rows.some((r) => r.name.toLowerCase() === c.toLowerCase()));
  if (missing.length) notes.push(`No ${heldOut ? 'held-out' : split} images for: ${missing.join(', ')}`);
  return { targets: mapped.targets, notes };
}

/**
 * Labeled images mapped to a model's class indices by name (case-insensitive); images of classes the model lacks
 * are left out with a note giving `why`.
 */
export function mapByClassName(rows: readonly { id: number; name: string }[], classes: readonly string[], why: string): { targets: Target[]; notes: string[] } {
  const index = new Map(classes.map((c, i) => [c.toLowerCase(), i]));
  const unknown = new Map<string, number>();
  const targets: Target[] = [];
  for (const r of rows) {
    const label = index.get(r.name.toLowerCase());
    if (label === undefined) unknown.set(r.name, (unknown.get(r.name) ?? 0) + 1);
    else targets.push({ imageId: r.id, label });
  }
  const notes = [...unknown].map(([name, count]) => `${count} image${count > 1 ? 's' : ''} of class "${name}" left out: ${why}`);
  return { targets, notes };
}

export function modelHash(project: Project, runId: number): string {
  const file = join(checkpointDir(runDir(project, runId), 'best'), 'weights.bin');
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export async function runEvaluation(
  project: Project,
  task: EvaluateTask,
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<{ evaluationId: number; n: number; notes: string[] }> {
  const run = getRun(project.db, task.runId);
  const { targets, notes } = evaluationTargets(project, task.runId, task.split);
  if (targets.length === 0) {
    throw new LoupeError(
      'BAD_INPUT',
      task.split === 'unlabeled'
        ? 'There are no unlabeled images to predict'
        : task.split === 'val' && run.fold !== null
          ? `Fold ${run.fold + 1} has no held-out images left to evaluate (unlabeled or excluded since training)`
          : `The ${task.split} split has no labeled images of this run's classes`,
    );
  }
  const model = await loadRunModel(project, run);
  try {
    const sha = modelHash(project, run.id);
    const preds = await predictImages(project, run, model, targets.map((t) => t.imageId), opts);
    for (const d of preds.dropped.slice(0, 20)) notes.push(`Left out ${d.path}: ${d.reason}`);
    notes.push(...preds.notes);
    const labelOf = new Map(targets.map((t) => [t.imageId, t.label]));
    const n = preds.imageIds.length;
    if (task.split !== 'unlabeled') opts.progress?.(n, n, 'Computing metrics');
    const evaluationId = storeEvaluation(project.db, {
      runId: run.id,
      split: task.split,
      modelSha256: sha,
      imageIds: preds.imageIds,
      labels: preds.imageIds.map((id) => labelOf.get(id) ?? null),
      probs: preds.probs,
      k: preds.classes,
      notes,
    });
    return { evaluationId, n, notes };
  } finally {
    model.dispose();
  }
}

/**
 * Stores an evaluation and its predictions in one transaction: the metrics (for labeled images, with bootstrap
 * intervals) and, per image, the predicted class, confidence, margin, entropy and the probability of its label.
 */
export function storeEvaluation(
  db: Database,
  e: {
    /** The run evaluated, or null with `externalModelId` for a foreign model (external_models). */
    runId: number | null;
    externalModelId?: number;
    split: EvaluationSplit;
    modelSha256: string;
    imageIds: readonly number[];
    /** Run class index of each image; null for unlabeled images (split 'unlabeled'). */
    labels: readonly (number | null)[];
    probs: Float32Array;
    k: number;
    notes: string[];
  },
): number {
  const { k } = e;
  const n = e.imageIds.length;
  const metrics: EvaluationMetrics | null =
    e.split === 'unlabeled'
      ? null
      : computeMetrics({ labels: Int32Array.from(e.labels, (l) => l!), probs: e.probs, k }, { bootstrap: { seed: EVALUATION_BOOTSTRAP_SEED } });
  return db.transaction(() => {
    const id = Number(
      db
        .prepare('INSERT INTO evaluations (run_id, external_model_id, split, model_sha256, created_at, n, metrics, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(e.runId, e.externalModelId ?? null, e.split, e.modelSha256, new Date().toISOString(), n, metrics ? JSON.stringify(metrics) : null, JSON.stringify(e.notes))
        .lastInsertRowid,
    );
    const ins = db.prepare(
      `INSERT INTO predictions (evaluation_id, image_id, label, predicted, confidence, margin, entropy, label_probability, probs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (let i = 0; i < n; i++) {
      const row = e.probs.subarray(i * k, (i + 1) * k);
      let best = 0;
      let second = -1;
      let entropy = 0;
      for (let c = 0; c < k; c++) {
        const p = row[c]!;
        // Ties go to the lowest index, as argmax does (and shared/metrics.ts).
        if (p > row[best]!) best = c;
        if (p > 0) entropy -= p * Math.log(p);
      }
      for (let c = 0; c < k; c++) if (c !== best && (second < 0 || row[c]! > row[second]!)) second = c;
      const label = e.labels[i] ?? null;
      ins.run(
        id,
        e.imageIds[i]!,
        label,
        best,
        row[best]!,
        row[best]! - (second >= 0 ? row[second]! : 0),
        entropy,
        label === null ? null : row[label]!,
        Buffer.from(row.buffer, row.byteOffset, row.byteLength),
      );
    }
    return id;
  })();
}
