/**
 * `loupe eval <project> --model FILE.onnx --classes a,b,c|--classes-from labels.txt` or `--model BUNDLE_DIR` (issue
 * 12): external validation of a foreign classifier on the project's labeled images, through the same job as the
 * app's Evaluate view.
 */
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoupeError, type EvaluationDetail } from '../../../shared/contract.ts';
import type { LoupeCore } from '../../core/api/loupe-core.ts';
import { fmt, metricsText, reportEvaluationJob } from './eval-output.ts';

/** A labels file is a short text file: one class name a line. */
const MAX_LABELS_BYTES = 1024 * 1024;

export interface ExternalEvalOptions {
  model: string;
  classes?: string;
  classesFrom?: string;
  split: 'val' | 'test';
  preprocess?: string;
  imageSize?: string;
  json: boolean;
  predictions?: string;
}

/** Class names from --classes (comma-separated) or --classes-from (one a line; blank lines and # comments skipped). */
export function classNames(opts: Pick<ExternalEvalOptions, 'classes' | 'classesFrom'>): string[] {
  if ((opts.classes === undefined) === (opts.classesFrom === undefined)) {
    throw new LoupeError('VALIDATION', '--model needs the model\'s class names in output order: --classes a,b,c or --classes-from labels.txt');
  }
  if (opts.classes !== undefined) return opts.classes.split(',').map((c) => c.trim());
  const file = resolve(opts.classesFrom!);
  let size: number;
  try {
    size = lstatSync(file).size;
  } catch {
    throw new LoupeError('NOT_FOUND', `No file ${file}`);
  }
  if (size > MAX_LABELS_BYTES) throw new LoupeError('BAD_INPUT', `${file} is ${size} bytes; a labels file lists class names, one a line (up to 1 MB)`);
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

function externalText(ev: EvaluationDetail): string {
  const ext = ev.external!;
  const out = [`External model ${ext.fileName} (sha256 ${ext.sha256}) on ${ev.split} (${ev.n} images)${ev.stale ? ` — STALE: ${ev.stale} images relabeled since` : ''}`];
  out.push(...metricsText(ev.classes, ev.metrics!));
  for (const n of ev.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export async function evaluateExternal(core: LoupeCore, opts: ExternalEvalOptions): Promise<number> {
  const imageSize = opts.imageSize === undefined ? undefined : Number(opts.imageSize);
  const path = resolve(opts.model);
  // A Loupe bundle folder names its classes itself.
  const bundle = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const classes = bundle && opts.classes === undefined && opts.classesFrom === undefined ? undefined : classNames(opts);
  const request = { path, classes, split: opts.split, preprocess: opts.preprocess, imageSize };
  const { jobId } = await core.dispatch('evaluations:external', request);
  return reportEvaluationJob(core, jobId, { json: opts.json, predictions: opts.predictions }, externalText);
}

/** `--reevaluate ID`: the external model of a stored evaluation, again on the split's images as labeled now. */
export async function reevaluateExternal(core: LoupeCore, evaluationId: number, out: { json: boolean; predictions?: string }): Promise<number> {
  const { jobId } = await core.dispatch('evaluations:reevaluateExternal', { evaluationId });
  return reportEvaluationJob(core, jobId, out, externalText);
}

export async function listExternal(core: LoupeCore, json: boolean): Promise<number> {
  const list = await core.dispatch('evaluations:listExternal', {});
  process.stdout.write(
    json
      ? JSON.stringify(list, null, 2) + '\n'
      : list.map((e) => `${e.id}  ${e.external!.fileName}  ${e.split.padEnd(5)} n=${e.n}  acc ${fmt(e.accuracy)}  auc ${fmt(e.macroAuc)}${e.stale ? `  stale (${e.stale})` : ''}  ${e.createdAt}`).join('\n') + '\n',
  );
  return 0;
}
