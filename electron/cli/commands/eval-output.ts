/** What `loupe eval` prints and writes: the metrics as JSON or text, and predictions as CSV. */
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EvaluationDetail } from '../../../shared/contract.ts';
import { csvLine } from '../../../shared/csv.ts';
import type { EvaluationMetrics } from '../../../shared/metrics.ts';
import type { LoupeCore } from '../../core/api/loupe-core.ts';
import type { Database } from '../../core/db/database.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { storedProbs } from '../../core/evaluation/evaluations.ts';
import { imageNamer } from '../../core/project/pseudonyms.ts';

/** The issue's JSON shape of the metrics, by class name. */
export function metricsJson(classes: readonly string[], m: EvaluationMetrics) {
  return {
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    topK: m.topK,
    perClass: m.perClass.map((c) => ({
      class: classes[c.classIndex]!,
      precision: c.precision,
      recall: c.recall,
      specificity: c.specificity,
      f1: c.f1,
      support: c.support,
    })),
    macro: m.macro,
    weighted: m.weighted,
    kappa: m.kappa,
    auc: m.auc.macro,
    aucPerClass: Object.fromEntries(classes.map((c, i) => [c, m.auc.perClass[i] ?? null])),
    confidenceIntervals: m.confidenceIntervals
      ? { accuracy: m.confidenceIntervals.accuracy, auc: m.confidenceIntervals.auc, method: m.confidenceIntervals.method }
      : null,
    expectedCalibrationError: m.calibration.ece,
    confusionMatrix: { labels: classes, matrix: m.confusionMatrix.matrix },
  };
}

/** The issue's JSON shape for `loupe eval --json`. */
export function evalJson(ev: EvaluationDetail) {
  return {
    evaluationId: ev.id,
    runId: ev.runId,
    ...(ev.external ? { externalModel: ev.external } : {}),
    split: ev.split,
    n: ev.n,
    stale: ev.stale,
    ...metricsJson(ev.classes, ev.metrics!),
    notes: ev.notes,
  };
}

export function fmt(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '—';
  const text = n.toFixed(4);
  // A mean of values that cancel out can land a hair below zero.
  return text === '-0.0000' ? '0.0000' : text;
}

/** Headline numbers, per-class table and confusion matrix as text lines. */
export function metricsText(classes: readonly string[], m: EvaluationMetrics): string[] {
  const ci = m.confidenceIntervals;
  const out: string[] = [];
  out.push(`Accuracy ${fmt(m.accuracy)}${ci ? ` (95% CI ${fmt(ci.accuracy.lower)}–${fmt(ci.accuracy.upper)})` : ''}   balanced ${fmt(m.balancedAccuracy)}   kappa ${fmt(m.kappa)}`);
  out.push(`AUC (macro) ${fmt(m.auc.macro)}${ci?.auc ? ` (95% CI ${fmt(ci.auc.lower)}–${fmt(ci.auc.upper)})` : ''}   ECE ${fmt(m.calibration.ece)}`);
  const w = Math.max(5, ...classes.map((c) => c.length));
  out.push(`${'class'.padEnd(w)}  precision  recall  specificity      f1  support`);
  for (const c of m.perClass) {
    out.push(
      `${classes[c.classIndex]!.padEnd(w)}  ${fmt(c.precision).padStart(9)}  ${fmt(c.recall).padStart(6)}  ${fmt(c.specificity).padStart(11)}  ${fmt(c.f1).padStart(6)}  ${String(c.support).padStart(7)}`,
    );
  }
  out.push('Confusion matrix (rows: true, columns: predicted):');
  const cw = Math.max(6, ...classes.map((c) => Math.min(c.length, 12) + 1), ...m.confusionMatrix.matrix.flat().map((v) => String(v).length + 1));
  out.push(`${''.padEnd(w)} ${classes.map((c) => c.slice(0, cw - 1).padStart(cw)).join('')}`);
  m.confusionMatrix.matrix.forEach((row, i) => out.push(`${classes[i]!.padEnd(w)} ${row.map((v) => String(v).padStart(cw)).join('')}`));
  return out;
}

/**
 * The shortest decimal that reads back as the same float32: a predictions file holds exactly the probabilities
 * the metrics were computed from, so they can be recomputed from it.
 */
export function float32Text(v: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const text = String(Number(v.toPrecision(digits)));
    if (Math.fround(Number(text)) === v) return text;
  }
  return String(v);
}

/**
 * Predictions of one evaluation, or of a cross-validation's folds pooled (`fold` adds the 1-based fold of the run
 * that held each image out), as CSV: path, label, predicted, p_<class>…. Written whole or not at all.
 */
export function writePredictionsCsv(
  db: Database,
  pick: { evaluationIds: readonly number[]; classes: readonly string[]; fold?: boolean },
  out: string,
): number {
  const rows = db
    .prepare(
      `SELECT i.id, i.rel_path, p.label, p.predicted, p.probs, r.fold FROM predictions p
       JOIN images i ON i.id = p.image_id JOIN evaluations e ON e.id = p.evaluation_id LEFT JOIN runs r ON r.id = e.run_id
       WHERE p.evaluation_id IN (SELECT value FROM json_each(?)) ORDER BY i.rel_path, i.id`,
    )
    .all(JSON.stringify(pick.evaluationIds)) as { id: number; rel_path: string; label: number | null; predicted: number; probs: Buffer; fold: number | null }[];
  const { classes } = pick;
  const lines = [csvLine(['path', 'label', 'predicted', ...classes.map((c) => `p_${c}`), ...(pick.fold ? ['fold'] : [])])];
  const nameOf = imageNamer(db);
  for (const r of rows) {
    const probs = storedProbs(r.probs);
    lines.push(
      csvLine([
        nameOf({ id: r.id, relPath: r.rel_path }),
        r.label === null ? '' : classes[r.label],
        classes[r.predicted],
        ...Array.from(probs, float32Text),
        ...(pick.fold ? [r.fold === null ? '' : String(r.fold + 1)] : []),
      ]),
    );
  }
  const file = resolve(out);
  writeFileSync(`${file}.tmp`, lines.join('\n') + '\n');
  renameSync(`${file}.tmp`, file);
  return rows.length;
}

/**
 * Follows an evaluation job to its end, then writes its predictions CSV (when asked) and prints it: JSON or
 * `text`. Returns the exit code.
 */
export async function reportEvaluationJob(
  core: LoupeCore,
  jobId: string,
  opts: { json: boolean; predictions?: string },
  text: (ev: EvaluationDetail) => string,
): Promise<number> {
  const job = await followJob(core, jobId, false);
  if (job.state !== 'succeeded') {
    process.stderr.write(`loupe: evaluation ${job.state}: ${job.message}\n`);
    return jobExitCode(job);
  }
  const evaluationId = (job.result as { evaluationId: number }).evaluationId;
  const ev = await core.dispatch('evaluations:get', { evaluationId });
  if (opts.predictions) {
    const n = writePredictionsCsv(core.requireProject().db, { evaluationIds: [ev.id], classes: ev.classes }, opts.predictions);
    process.stderr.write(`Wrote ${n} predictions to ${resolve(opts.predictions)}\n`);
  }
  process.stdout.write(opts.json ? JSON.stringify(evalJson(ev), null, 2) + '\n' : text(ev));
  return 0;
}
