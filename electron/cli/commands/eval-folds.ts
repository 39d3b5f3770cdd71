/**
 * `loupe eval --run R --folds`: every fold run of R's k-fold group evaluated on the images it held out (when not
 * yet), then the per-fold table with mean ± std and the pooled out-of-fold evaluation of every fold image.
 */
import { resolve } from 'node:path';
import type { CrossValidation } from '../../../shared/contract.ts';
import type { LoupeCore } from '../../core/api/loupe-core.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { fmt, metricsJson, metricsText, writePredictionsCsv } from './eval-output.ts';

const foldName = (f: CrossValidation['folds'][number]) => (f.fold === null ? `run ${f.runId}` : `fold ${f.fold + 1}`);

export async function crossValidate(core: LoupeCore, runId: number, opts: { json: boolean; predictions?: string }): Promise<number> {
  let cv = await core.dispatch('evaluations:crossValidation', { runId });
  for (const f of cv.folds.filter((x) => x.evaluationId === null)) {
    if (!opts.json) process.stderr.write(`Evaluating ${foldName(f)} (run ${f.runId}) on its ${f.size} held-out images…\n`);
    const { jobId } = await core.dispatch('evaluations:run', { runId: f.runId, split: 'val' });
    const job = await followJob(core, jobId, false);
    if (job.state !== 'succeeded') {
      process.stderr.write(`loupe: ${foldName(f)} (run ${f.runId}) ${job.state}: ${job.message}\n`);
      return jobExitCode(job);
    }
  }
  cv = await core.dispatch('evaluations:crossValidation', { runId });
  const pooled = cv.pooled;
  if (opts.predictions && pooled) {
    const n = writePredictionsCsv(core.requireProject().db, { evaluationIds: pooled.evaluationIds, classes: pooled.classes, fold: true }, opts.predictions);
    process.stderr.write(`Wrote ${n} out-of-fold predictions to ${resolve(opts.predictions)}\n`);
  }
  if (opts.json) {
    const json = {
      folds: cv.folds,
      aggregate: cv.aggregate,
      pooled: pooled && { n: pooled.n, stale: pooled.stale, evaluationIds: pooled.evaluationIds, ...metricsJson(pooled.classes, pooled.metrics) },
      pendingReason: cv.pendingReason,
    };
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    return pooled ? 0 : 1;
  }
  const out: string[] = [];
  const a = cv.aggregate!;
  const names = Object.keys(a.summary) as (keyof typeof a.summary)[];
  const w = Math.max(...names.map((n) => n.length));
  out.push(`Cross-validation of ${cv.folds.length} folds: each fold's model judged only on the images it held out.`);
  out.push(`${'metric'.padEnd(w)}  ${cv.folds.map((f) => foldName(f).padStart(8)).join('')}   mean ± std`);
  out.push(`${'images'.padEnd(w)}  ${cv.folds.map((f) => String(f.n ?? '—').padStart(8)).join('')}`);
  for (const n of names) {
    const s = a.summary[n];
    out.push(`${n.padEnd(w)}  ${a.perFold.map((p) => fmt(p[n]).padStart(8)).join('')}   ${fmt(s.mean)} ± ${fmt(s.std)}`);
  }
  if (pooled) {
    out.push('');
    out.push(`Pooled out-of-fold predictions (${pooled.n} images, each predicted once by the model that did not train on it)` +
      (pooled.stale ? ` — STALE: ${pooled.stale} images relabeled since` : ''));
    out.push(...metricsText(pooled.classes, pooled.metrics));
  } else if (cv.pendingReason) out.push(`note: ${cv.pendingReason}`);
  process.stdout.write(out.join('\n') + '\n');
  return pooled ? 0 : 1;
}
