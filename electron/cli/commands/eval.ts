/** `loupe eval`, `loupe predict-unlabeled`, `loupe label-errors`: evaluation from the command line. */
import { parseArgs } from 'node:util';
import { renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoupeError, type EvaluationDetail } from '../../../shared/contract.ts';
import { csvLine } from '../../../shared/csv.ts';
import type { LoupeCore } from '../../core/api/loupe-core.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { withProject } from '../with-core.ts';

function runIdOf(v: string | undefined, usage: string): number {
  const id = Number(v);
  if (!v || !Number.isInteger(id) || id < 1) throw new LoupeError('VALIDATION', usage.trim());
  return id;
}

/** The issue's JSON shape for `loupe eval --json`. */
export function evalJson(ev: EvaluationDetail) {
  const m = ev.metrics!;
  return {
    evaluationId: ev.id,
    runId: ev.runId,
    split: ev.split,
    n: ev.n,
    stale: ev.stale,
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    topK: m.topK,
    perClass: m.perClass.map((c) => ({
      class: ev.classes[c.classIndex]!,
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
    aucPerClass: Object.fromEntries(ev.classes.map((c, i) => [c, m.auc.perClass[i] ?? null])),
    confidenceIntervals: m.confidenceIntervals
      ? { accuracy: m.confidenceIntervals.accuracy, auc: m.confidenceIntervals.auc, method: m.confidenceIntervals.method }
      : null,
    expectedCalibrationError: m.calibration.ece,
    confusionMatrix: { labels: ev.classes, matrix: m.confusionMatrix.matrix },
    notes: ev.notes,
  };
}

async function writePredictionsCsv(core: LoupeCore, ev: EvaluationDetail, out: string): Promise<number> {
  const db = core.requireProject().db;
  const rows = db
    .prepare(
      `SELECT i.rel_path, p.label, p.predicted, p.probs FROM predictions p JOIN images i ON i.id = p.image_id
       WHERE p.evaluation_id = ? ORDER BY i.rel_path`,
    )
    .all(ev.id) as { rel_path: string; label: number | null; predicted: number; probs: Buffer }[];
  const lines = [csvLine(['path', 'label', 'predicted', ...ev.classes.map((c) => `p_${c}`)])];
  for (const r of rows) {
    const probs = new Float32Array(r.probs.buffer.slice(r.probs.byteOffset, r.probs.byteOffset + r.probs.byteLength));
    lines.push(csvLine([r.rel_path, r.label === null ? '' : ev.classes[r.label], ev.classes[r.predicted], ...Array.from(probs, (p) => p.toFixed(6))]));
  }
  const file = resolve(out);
  writeFileSync(`${file}.tmp`, lines.join('\n') + '\n');
  renameSync(`${file}.tmp`, file);
  return rows.length;
}

function fmt(n: number | null): string {
  return n === null || !Number.isFinite(n) ? '—' : n.toFixed(4);
}

function printEvaluation(ev: EvaluationDetail): string {
  const m = ev.metrics!;
  const ci = m.confidenceIntervals;
  const out: string[] = [];
  out.push(`Run ${ev.runId} on ${ev.split} (${ev.n} images)${ev.stale ? ` — STALE: ${ev.stale} images relabeled since` : ''}`);
  out.push(`Accuracy ${fmt(m.accuracy)}${ci ? ` (95% CI ${fmt(ci.accuracy.lower)}–${fmt(ci.accuracy.upper)})` : ''}   balanced ${fmt(m.balancedAccuracy)}   kappa ${fmt(m.kappa)}`);
  out.push(`AUC (macro) ${fmt(m.auc.macro)}${ci?.auc ? ` (95% CI ${fmt(ci.auc.lower)}–${fmt(ci.auc.upper)})` : ''}   ECE ${fmt(m.calibration.ece)}`);
  const w = Math.max(5, ...ev.classes.map((c) => c.length));
  out.push(`${'class'.padEnd(w)}  precision  recall  specificity      f1  support`);
  for (const c of m.perClass) {
    out.push(
      `${ev.classes[c.classIndex]!.padEnd(w)}  ${fmt(c.precision).padStart(9)}  ${fmt(c.recall).padStart(6)}  ${fmt(c.specificity).padStart(11)}  ${fmt(c.f1).padStart(6)}  ${String(c.support).padStart(7)}`,
    );
  }
  out.push('Confusion matrix (rows: true, columns: predicted):');
  const cw = Math.max(6, ...ev.classes.map((c) => Math.min(c.length, 12) + 1), ...m.confusionMatrix.matrix.flat().map((v) => String(v).length + 1));
  out.push(`${''.padEnd(w)} ${ev.classes.map((c) => c.slice(0, cw - 1).padStart(cw)).join('')}`);
  m.confusionMatrix.matrix.forEach((row, i) => out.push(`${ev.classes[i]!.padEnd(w)} ${row.map((v) => String(v).padStart(cw)).join('')}`));
  for (const n of ev.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export async function evalCommand(args: string[]): Promise<number> {
  const usage = 'Usage: loupe eval <project> --run ID [--split val|test] [--json] [--predictions out.csv] [--list] [--folds]\n';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      run: { type: 'string' },
      split: { type: 'string', default: 'val' },
      json: { type: 'boolean', default: false },
      predictions: { type: 'string' },
      list: { type: 'boolean', default: false },
      folds: { type: 'boolean', default: false },
    },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(usage);
    return 2;
  }
  const runId = runIdOf(values.run, usage);
  if (values.split !== 'val' && values.split !== 'test') throw new LoupeError('VALIDATION', `--split takes val or test; got "${values.split}"`);
  const split = values.split;
  return withProject(projectDir, async (core) => {
    if (values.list) {
      const list = await core.dispatch('evaluations:list', { runId });
      process.stdout.write(values.json ? JSON.stringify(list, null, 2) + '\n' : list.map((e) => `${e.id}  ${e.split.padEnd(9)} n=${e.n}  acc ${fmt(e.accuracy)}  auc ${fmt(e.macroAuc)}${e.stale ? `  stale (${e.stale})` : ''}  ${e.createdAt}`).join('\n') + '\n');
      return 0;
    }
    if (values.folds) return crossValidate(core, runId, values.json ?? false);
    const { jobId } = await core.dispatch('evaluations:run', { runId, split });
    const job = await followJob(core, jobId, false);
    if (job.state !== 'succeeded') {
      process.stderr.write(`loupe: evaluation ${job.state}: ${job.message}\n`);
      return jobExitCode(job);
    }
    const evaluationId = (job.result as { evaluationId: number }).evaluationId;
    const ev = await core.dispatch('evaluations:get', { evaluationId });
    if (values.predictions) {
      const n = await writePredictionsCsv(core, ev, values.predictions);
      process.stderr.write(`Wrote ${n} predictions to ${resolve(values.predictions)}\n`);
    }
    process.stdout.write(values.json ? JSON.stringify(evalJson(ev), null, 2) + '\n' : printEvaluation(ev));
    return 0;
  });
}

export async function predictUnlabeledCommand(args: string[]): Promise<number> {
  const usage = 'Usage: loupe predict-unlabeled <project> --run ID [--accept-above 0.95] [--json]\n';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { run: { type: 'string' }, 'accept-above': { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(usage);
    return 2;
  }
  const runId = runIdOf(values.run, usage);
  const threshold = values['accept-above'] === undefined ? undefined : Number(values['accept-above']);
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) throw new LoupeError('VALIDATION', '--accept-above takes a confidence from 0 to 1');
  return withProject(projectDir, async (core) => {
    const { jobId } = await core.dispatch('evaluations:predictUnlabeled', { runId });
    const job = await followJob(core, jobId, false);
    if (job.state !== 'succeeded') {
      process.stderr.write(`loupe: prediction ${job.state}: ${job.message}\n`);
      return jobExitCode(job);
    }
    const evaluationId = (job.result as { evaluationId: number }).evaluationId;
    const ev = await core.dispatch('evaluations:get', { evaluationId });
    const accepted = threshold === undefined ? null : await core.dispatch('suggestions:accept', { evaluationId, minConfidence: threshold });
    const summary = { evaluationId, predicted: ev.n, accepted: accepted?.changed ?? 0, notes: ev.notes };
    process.stdout.write(
      values.json
        ? JSON.stringify(summary) + '\n'
        : `Predicted ${ev.n} unlabeled images (evaluation ${evaluationId}); review them in Loupe sorted by uncertainty.` +
            (accepted ? `\nAccepted ${accepted.changed} suggestions at or above ${threshold} (undo in the app).` : '') +
            '\n',
    );
    return 0;
  });
}

export async function labelErrorsCommand(args: string[]): Promise<number> {
  const usage = 'Usage: loupe label-errors <project> --run ID [--limit N] [--json]\n';
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { run: { type: 'string' }, limit: { type: 'string', default: '50' }, json: { type: 'boolean', default: false } },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(usage);
    return 2;
  }
  const runId = runIdOf(values.run, usage);
  return withProject(projectDir, async (core) => {
    const r = await core.dispatch('evaluations:labelErrors', { runId, limit: Number(values.limit) });
    if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      const db = core.requireProject().db;
      const path = db.prepare('SELECT rel_path FROM images WHERE id = ?').pluck();
      if (!r.outOfFold) process.stdout.write('note: these come from one validation split, not out-of-fold predictions of a k-fold run\n');
      for (const c of r.candidates) {
        process.stdout.write(`${(c.selfConfidence * 100).toFixed(1).padStart(5)}%  ${String(path.get(c.imageId))}  labeled ${c.given}, looks like ${c.suggested} (${(c.suggestedConfidence * 100).toFixed(0)}%)\n`);
      }
      if (!r.candidates.length) process.stdout.write('No likely label errors found.\n');
    }
    return 0;
  });
}

/** `loupe eval --folds`: each fold run of a k-fold group on its held-out fold (evaluated if needed), then mean ± std. */
async function crossValidate(core: LoupeCore, runId: number, json: boolean): Promise<number> {
  let cv = await core.dispatch('evaluations:crossValidation', { runId });
  for (const f of cv.folds.filter((x) => x.evaluationId === null)) {
    const { jobId } = await core.dispatch('evaluations:run', { runId: f.runId, split: 'val' });
    const job = await followJob(core, jobId, false);
    if (job.state !== 'succeeded') {
      process.stderr.write(`loupe: fold ${f.fold === null ? '?' : f.fold + 1} (run ${f.runId}) ${job.state}: ${job.message}\n`);
      return jobExitCode(job);
    }
  }
  cv = await core.dispatch('evaluations:crossValidation', { runId });
  if (json) {
    process.stdout.write(JSON.stringify(cv, null, 2) + '\n');
    return 0;
  }
  const a = cv.aggregate!;
  const names = Object.keys(a.summary) as (keyof typeof a.summary)[];
  const w = Math.max(...names.map((n) => n.length));
  process.stdout.write(`${'metric'.padEnd(w)}  ${cv.folds.map((f) => `fold ${(f.fold ?? 0) + 1}`.padStart(8)).join('')}   mean ± std\n`);
  for (const n of names) {
    const s = a.summary[n];
    process.stdout.write(
      `${n.padEnd(w)}  ${a.perFold.map((p) => fmt(p[n]).padStart(8)).join('')}   ${fmt(s.mean)} ± ${fmt(s.std)}\n`,
    );
  }
  return 0;
}
