/** `loupe eval`, `loupe predict-unlabeled`, `loupe label-errors`: evaluation from the command line. */
import { parseArgs } from 'node:util';
import { LoupeError, type EvaluationDetail } from '../../../shared/contract.ts';
import { followJob, jobExitCode } from '../run-job.ts';
import { withProject } from '../with-core.ts';
import { crossValidate } from './eval-folds.ts';
import { fmt, metricsText, reportEvaluationJob } from './eval-output.ts';

function runIdOf(v: string | undefined, usage: string): number {
  const id = Number(v);
  if (!v || !Number.isInteger(id) || id < 1) throw new LoupeError('VALIDATION', usage.trim());
  return id;
}

function printEvaluation(ev: EvaluationDetail): string {
  const out = [`Run ${ev.runId} on ${ev.split} (${ev.n} images)${ev.stale ? ` — STALE: ${ev.stale} images relabeled since` : ''}`];
  out.push(...metricsText(ev.classes, ev.metrics!));
  for (const n of ev.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export async function evalCommand(args: string[]): Promise<number> {
  const usage =
    'Usage: loupe eval <project> --run ID [--split val|test] [--json] [--predictions out.csv] [--list]\n       loupe eval <project> --run ID --folds [--json] [--predictions oof.csv]   (k-fold: out-of-fold)\n' +
    '       loupe eval <project> --model FILE.onnx --classes a,b,c|--classes-from labels.txt [--split val|test] [--preprocess imagenet|unit|minus-one-one] [--image-size N] [--json] [--predictions p.csv]\n' +
    '       loupe eval <project> --reevaluate EVALUATION_ID [--json] [--predictions p.csv]   (an external model again)\n';
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
      model: { type: 'string' },
      classes: { type: 'string' },
      'classes-from': { type: 'string' },
      preprocess: { type: 'string' },
      'image-size': { type: 'string' },
      reevaluate: { type: 'string' },
    },
  });
  const [projectDir] = positionals;
  if (!projectDir) {
    process.stderr.write(usage);
    return 2;
  }
  if (values.reevaluate !== undefined) {
    const evaluationId = runIdOf(values.reevaluate, usage);
    const { reevaluateExternal } = await import('./eval-external.ts');
    return withProject(projectDir, (core) => reevaluateExternal(core, evaluationId, { json: values.json ?? false, predictions: values.predictions }));
  }
  if (values.model !== undefined || (values.list && values.run === undefined)) {
    const split = values.split;
    if (split !== 'val' && split !== 'test') throw new LoupeError('VALIDATION', `--split takes val or test; got "${split}"`);
    const { evaluateExternal, listExternal } = await import('./eval-external.ts');
    return withProject(projectDir, (core) =>
      values.model === undefined
        ? listExternal(core, values.json ?? false)
        : evaluateExternal(core, {
            model: values.model,
            classes: values.classes,
            classesFrom: values['classes-from'],
            split,
            preprocess: values.preprocess,
            imageSize: values['image-size'],
            json: values.json ?? false,
            predictions: values.predictions,
          }),
    );
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
    if (values.folds) return crossValidate(core, runId, { json: values.json ?? false, predictions: values.predictions });
    const { jobId } = await core.dispatch('evaluations:run', { runId, split });
    return reportEvaluationJob(core, jobId, { json: values.json ?? false, predictions: values.predictions }, printEvaluation);
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
      process.stdout.write(
        r.outOfFold
          ? 'From out-of-fold predictions: every fold image judged by the fold model that never trained on it.\n'
          : `note: these come from validation predictions, not out-of-fold predictions of every fold of a k-fold run (loupe eval --run ${runId} --folds evaluates them all)\n`,
      );
      for (const c of r.candidates) {
        process.stdout.write(`${(c.selfConfidence * 100).toFixed(1).padStart(5)}%  ${String(path.get(c.imageId))}  labeled ${c.given}, looks like ${c.suggested} (${(c.suggestedConfidence * 100).toFixed(0)}%)\n`);
      }
      if (!r.candidates.length) process.stdout.write('No likely label errors found.\n');
    }
    return 0;
  });
}
