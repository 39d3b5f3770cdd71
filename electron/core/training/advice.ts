/**
 * What would help when the data set is small (issue 15): a CNN trained from scratch on 72 images reached 100% on
 * training and 50% on validation, then stopped early on a rising validation loss, and the Train view left the user
 * with a chart. The one-click suggestion carries this advice; the Train view shows it.
 */
import type { Project } from '../project/project.ts';
import { listBackbones, type BackboneInfo } from './backbones.ts';

/** Below either, a network trained from scratch mostly memorises its training images. */
export const SMALL_DATASET_IMAGES = 500;
export const SMALL_CLASS_IMAGES = 50;

/**
 * Below this many labeled images a pretrained backbone beats a network trained from scratch (issue 12): its
 * features were learned on far more images, and with a frozen backbone and cached features the head trains in
 * seconds. Above it, a network from scratch has enough to learn the project's own features.
 */
export const PRETRAINED_BELOW_IMAGES = 5000;

/**
 * The backbone one-click training starts from on a small data set: the project's own imported ones first (the
 * user brought them for this), then those shipped with Loupe; null when there is none or the set is large.
 */
export function pretrainedChoice(project: Project, labeled: number): { backbone: BackboneInfo; reason: string } | null {
  if (labeled === 0 || labeled >= PRETRAINED_BELOW_IMAGES) return null;
  const all = listBackbones(project);
  const backbone = all.find((b) => b.source === 'imported') ?? all[0];
  if (!backbone) return null;
  const others = all.length > 1 ? ` (${all.length - 1} other backbone${all.length > 2 ? 's' : ''} in Advanced settings)` : '';
  return {
    backbone,
    reason:
      `Transfer learning from the pretrained backbone “${backbone.name}”${others}: ${labeled} labeled images is few (under ${PRETRAINED_BELOW_IMAGES.toLocaleString('en')}) ` +
      'for a network trained from scratch, while a pretrained one already knows general image features. Its layers stay frozen and augmentation ' +
      'is off, so each image’s features are computed once and the head trains in seconds',
  };
}

/** Plain-language advice for a small labeled set, most useful first; empty when the data set is large enough. */
export function smallDataAdvice(project: Project, classCounts: number[]): string[] {
  const n = classCounts.reduce((a, b) => a + b, 0);
  const smallest = classCounts.length ? Math.min(...classCounts) : 0;
  if (n === 0 || (n >= SMALL_DATASET_IMAGES && smallest >= SMALL_CLASS_IMAGES)) return [];
  const advice: string[] = [];
  advice.push(
    `More labels help most: ${n} labeled image${n === 1 ? '' : 's'} (${smallest} in the smallest class) is few for a network ` +
      'trained from scratch; it can learn them by heart (near 100% on training, far less on validation). Aim for a few hundred per class.',
  );
  const pretrained = listBackbones(project);
  const chosen = pretrainedChoice(project, n);
  advice.push(
    chosen
      ? `Transfer learning: one-click training starts from the pretrained backbone “${chosen.backbone.name}”; its features were learned elsewhere, so it needs far fewer labels.`
      : pretrained.length
      ? `Transfer learning: start from the pretrained backbone “${pretrained[0]!.name}” (Advanced settings → Architecture → Transfer learning); ` +
          'its features were learned elsewhere, so it needs far fewer labels.'
      : 'Transfer learning needs far fewer labels: once a pretrained backbone is imported (Advanced settings → Architecture → Transfer learning → Import backbone, or loupe backbone import), train from it ' +
          'instead of from scratch (Advanced settings → Architecture → Transfer learning).',
  );
  const val = validationCount(project) ?? Math.round(n * 0.15);
  // The 95% interval of an accuracy measured on `val` images is widest at 50%: ±1.96·√(0.25 / val).
  const swing = val > 0 ? Math.round(196 * Math.sqrt(0.25 / val)) : 100;
  advice.push(
    `Judge with k-fold cross-validation: on ${val} validation image${val === 1 ? '' : 's'} one run's accuracy can be off by ±${Math.min(swing, 100)} points. ` +
      'Assign 5 folds (Splits → k folds) and train with k-fold (Advanced settings) for a steadier figure.',
  );
  return advice;
}

function validationCount(project: Project): number | null {
  const row = project.db
    .prepare(`SELECT COUNT(*) AS n, SUM(split IS NOT NULL) AS assigned, SUM(split = 'val') AS val FROM images WHERE status = 'ok' AND class_id IS NOT NULL AND excluded = 0`)
    .get() as { n: number; assigned: number | null; val: number | null };
  // No split yet: the one-click run makes a 70/15/15 one; the caller estimates from that.
  return row.assigned ? (row.val ?? 0) : null;
}
