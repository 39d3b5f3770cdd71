/**
 * External validation of a Loupe bundle from another project (issue 12): its checksums verified, its model run as
 * a run's own is (predict.ts) on this project's labeled images with the preprocessing it carries (size, channels,
 * resize, normalization), its labels.json mapped to the project's classes by name, stored as an "external model" evaluation named by the
 * bundle folder's name and identified by its weights' SHA-256 (as a run's model is).
 */
import { basename, resolve } from 'node:path';
import { LoupeError } from '../../../shared/contract.ts';
import type { Project } from '../project/project.ts';
import { verifyBundle } from '../export/bundle-format.ts';
import { loadBundleModel } from '../export/bundle-predict.ts';
import { cachedImages, predictCached } from '../training/predict.ts';
import { inputShapeOf } from '../images/model-input.ts';
import { checkSameModel, externalTargets, storeExternalEvaluation } from './external-model.ts';

export async function runBundleEvaluation(
  project: Project,
  task: { file: string; classes?: string[]; split: 'val' | 'test'; expectSha256?: string },
  opts: { signal?: AbortSignal; progress?: (done: number, total: number, message: string) => void } = {},
): Promise<{ evaluationId: number; n: number; notes: string[] }> {
  const bundle = verifyBundle(resolve(task.file));
  const classes = bundle.labels;
  const sha256 = bundle.manifest.files['weights.bin']!.sha256;
  checkSameModel(task.expectSha256, sha256, basename(bundle.dir));
  // A bundle names its classes itself; names given as well must be the same ones, in its order.
  if (task.classes && task.classes.join('\n').toLowerCase() !== classes.join('\n').toLowerCase()) {
    throw new LoupeError('BAD_INPUT', `The bundle's labels.json lists ${classes.length} classes (${classes.join(', ')}), not the ${task.classes.length} given`);
  }
  const p = bundle.preprocessing;
  const model = await loadBundleModel(bundle);
  try {
    const { targets, notes } = externalTargets(project, classes, task.split);
    const { cache, kept, dropped } = await cachedImages(project, inputShapeOf(p), targets.map((t) => t.imageId), opts);
    let probs: Float32Array;
    try {
      for (const d of dropped.slice(0, 20)) notes.push(`Left out ${d.path}: ${d.reason}`);
      const predicted = await predictCached(model, p, classes.length, cache, kept, opts);
      probs = predicted.probs;
      notes.push(...predicted.notes);
    } finally {
      cache.close();
    }
    const labelOf = new Map(targets.map((t) => [t.imageId, t.label]));
    const imageIds = kept.map((it) => it.imageId);
    const evaluationId = storeExternalEvaluation(
      project,
      { path: bundle.dir, fileName: basename(bundle.dir), sha256, format: 'bundle', classes, preprocess: 'bundle', imageSize: p.imageSize, channels: p.channels },
      { split: task.split, imageIds, labels: imageIds.map((id) => labelOf.get(id) ?? null), probs, notes },
    );
    return { evaluationId, n: imageIds.length, notes };
  } finally {
    model.dispose();
  }
}
