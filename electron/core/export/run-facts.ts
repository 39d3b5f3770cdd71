/**
 * What the model card and the PDF report say about a run, read once from project.db and the run folder: the run,
 * its epochs, class counts per split from the run's dataset snapshot (what it was trained on, even if labels
 * changed since), its latest evaluations and the model hash. Counts only: never file names.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoupeError, type EvaluationDetail } from '../../../shared/contract.ts';
import type { EpochMetrics, RunInfo } from '../../../shared/training.ts';
import type { Project } from '../project/project.ts';
import { checkpointDir, hasCheckpoint } from '../training/checkpoint-paths.ts';
import { getRun, runDir, runEpochs } from '../training/runs.ts';
import { getEvaluation } from '../evaluation/evaluations.ts';

export interface SplitCounts {
  className: string;
  train: number;
  val: number;
  test: number;
}

export interface RunFacts {
  projectName: string;
  run: RunInfo;
  epochs: EpochMetrics[];
  splitCounts: SplitCounts[];
  /** The latest evaluation per split, if any. */
  evaluations: { val: EvaluationDetail | null; test: EvaluationDetail | null };
  modelDir: string;
  modelSha256: string;
}

/** The run's best model folder, or a clear error when the run has none (yet). */
export function finishedModelDir(project: Project, run: RunInfo): string {
  const dir = runDir(project, run.id);
  if (run.status === 'running' || run.status === 'queued') {
    throw new LoupeError('CONFLICT', `Run ${run.id} is still ${run.status}; export it when it has finished or been stopped`);
  }
  if (!run.preprocessing || run.bestEpoch === null || !hasCheckpoint(dir, 'best')) {
    throw new LoupeError('BAD_INPUT', `Run ${run.id} has no finished model (status: ${run.status}${run.error ? `, ${run.error}` : ''})`);
  }
  const best = checkpointDir(dir, 'best');
  for (const f of ['model.json', 'weights.bin']) {
    if (!existsSync(join(best, f))) throw new LoupeError('BAD_INPUT', `Run ${run.id}'s model is incomplete: ${f} is missing in ${best}`);
  }
  return best;
}

export function collectRunFacts(project: Project, runId: number): RunFacts {
  const db = project.db;
  const run = getRun(db, runId);
  const modelDir = finishedModelDir(project, run);
  const counts = run.classes.map((className) => ({ className, train: 0, val: 0, test: 0 }));
  const rows = db
    .prepare('SELECT class_index, split, COUNT(*) AS n FROM run_images WHERE run_id = ? GROUP BY class_index, split')
    .all(runId) as { class_index: number; split: 'train' | 'val' | 'test'; n: number }[];
  for (const r of rows) {
    const c = counts[r.class_index];
    if (c && (r.split === 'train' || r.split === 'val' || r.split === 'test')) c[r.split] += r.n;
  }
  const latest = (split: 'val' | 'test'): EvaluationDetail | null => {
    const id = db.prepare(`SELECT id FROM evaluations WHERE run_id = ? AND split = ? AND metrics IS NOT NULL ORDER BY id DESC LIMIT 1`).pluck().get(runId, split) as
      | number
      | undefined;
    return id === undefined ? null : getEvaluation(db, id);
  };
  return {
    projectName: project.sharedName(),
    run,
    epochs: runEpochs(db, runId),
    splitCounts: counts,
    evaluations: { val: latest('val'), test: latest('test') },
    modelDir,
    modelSha256: createHash('sha256').update(readFileSync(join(modelDir, 'weights.bin'))).digest('hex'),
  };
}
