/**
 * Evaluation metrics of a set of predictions (issue 5), with scikit-learn's definitions (checked against
 * scikit-learn 1.2.1 on the recorded sets in tests/fixtures/metrics). Pure TypeScript: core and renderer.
 *
 * Conventions, all as scikit-learn with `labels=range(k)` (every class of the project, in its order) and
 * `zero_division=0`:
 * - predicted class = first maximum of the row (numpy.argmax);
 * - precision / recall / F1 / specificity are 0 where their denominator is 0 (a class never predicted, a class
 *   absent from the set); macro averages include every class, absent ones too (as sklearn with `labels` given);
 *   weighted averages weight by support. Specificity is TN / (TN + FP) from the one-vs-rest matrices;
 * - balanced accuracy is the mean recall over the classes present in the labels (balanced_accuracy_score);
 * - top-k follows top_k_accuracy_score: for k ≥ 3 classes a row is a hit when its true class is among the k
 *   highest scores, ties ordered with the higher class index first (its reversed stable argsort), so top-1 can
 *   differ from accuracy on tied rows; for 2 classes top-1 is P(class 1) > 0.5 (0 if scores leave [0, 1]);
 * - Cohen's kappa is null where sklearn returns NaN (every row in one cell of the matrix);
 * - AUC per class is one-vs-rest, null for a class without positives or without negatives (sklearn raises);
 *   the AUC of a two-class project is class 1's (roc_auc_score on binary labels), otherwise the macro mean over
 *   the defined classes: equal to roc_auc_score(multi_class='ovr') whenever every class is present.
 */
import { columnAuc, columnKeys, columnRocCurve, rankColumn, type RankedColumn, type RocCurve } from './metrics-roc.ts';
import { bootstrapConfidenceIntervals, type BootstrapOptions, type BootstrapResult } from './metrics-bootstrap.ts';
import { calibration, type Calibration } from './metrics-calibration.ts';

export type { RocCurve } from './metrics-roc.ts';
export type { BootstrapOptions, BootstrapResult, ConfidenceInterval } from './metrics-bootstrap.ts';
export { percentile } from './metrics-bootstrap.ts';
export type { Calibration, CalibrationBin, OperatingPoint, ThresholdModel } from './metrics-calibration.ts';
export { calibration, operatingPoint, thresholdModel } from './metrics-calibration.ts';

export interface Predictions {
  /** True class index of each row, 0 ≤ label < k. */
  readonly labels: Int32Array | readonly number[];
  /** n × k row-major class probabilities. */
  readonly probs: Float32Array;
  readonly k: number;
}

export interface ClassMetrics {
  readonly classIndex: number;
  readonly precision: number;
  readonly recall: number;
  readonly specificity: number;
  readonly f1: number;
  readonly support: number;
}

export interface AveragedMetrics {
  readonly precision: number;
  readonly recall: number;
  readonly specificity: number;
  readonly f1: number;
}

export interface ConfusedWith {
  readonly classIndex: number;
  readonly count: number;
  /** count / support of the true class. */
  readonly fraction: number;
}

export interface EvaluationMetrics {
  readonly n: number;
  readonly k: number;
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  /** topK[j] = top-(j + 1) accuracy, j = 0 … k − 1. */
  readonly topK: number[];
  readonly perClass: ClassMetrics[];
  readonly macro: AveragedMetrics;
  readonly weighted: AveragedMetrics;
  readonly kappa: number | null;
  /** Rows = true class, columns = predicted class; normalized rows sum to 1 (all-zero rows stay 0). */
  readonly confusionMatrix: { readonly matrix: number[][]; readonly normalized: number[][] };
  readonly auc: { readonly macro: number | null; readonly perClass: (number | null)[] };
  readonly roc: (RocCurve | null)[];
  readonly calibration: Calibration;
  readonly mostConfusedWith: ConfusedWith[][];
  /** Absent when computeMetrics was asked not to bootstrap. */
  readonly confidenceIntervals: BootstrapResult | null;
}

/** Input that cannot be evaluated; the message says why. */
export class MetricsInputError extends Error {
  override name = 'MetricsInputError';
}

/** Checks the shapes and values and returns n. */
export function checkPredictions({ labels, probs, k }: Predictions): number {
  if (!Number.isInteger(k) || k < 2) throw new MetricsInputError(`need at least 2 classes, got ${k}`);
  const n = labels.length;
  if (n === 0) throw new MetricsInputError('no predictions to evaluate');
  if (probs.length !== n * k) {
    throw new MetricsInputError(`expected ${n} × ${k} = ${n * k} probabilities, got ${probs.length}`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= k) throw new MetricsInputError(`row ${i}: label ${y} is not a class index in [0, ${k})`);
  }
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i]!)) throw new MetricsInputError(`row ${Math.floor(i / k)}: probability ${probs[i]} is not a finite number`);
  }
  return n;
}

/** First maximum of each row (numpy.argmax). */
export function predictedClasses(probs: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += k) {
    let best = 0;
    let bestScore = probs[o]!;
    for (let c = 1; c < k; c++) {
      if (probs[o + c]! > bestScore) {
        bestScore = probs[o + c]!;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

export function confusionMatrix(labels: ArrayLike<number>, predicted: ArrayLike<number>, k: number): number[][] {
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]!]![predicted[i]!]!++;
  return matrix;
}

/** confusion_matrix(normalize='true'): each row over its sum, rows without samples all 0. */
export function normalizeRows(matrix: number[][]): number[][] {
  return matrix.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (total > 0 ? v / total : 0));
  });
}

export interface ConfusionSummary {
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  readonly perClass: ClassMetrics[];
  readonly macro: AveragedMetrics;
  readonly weighted: AveragedMetrics;
  readonly kappa: number | null;
}

/** Everything that depends only on the confusion matrix. */
export function summarizeConfusion(matrix: number[][]): ConfusionSummary {
  const k = matrix.length;
  const rowSums = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const colSums = matrix[0]!.map((_, j) => matrix.reduce((a, row) => a + row[j]!, 0));
  const n = rowSums.reduce((a, b) => a + b, 0);
  let trace = 0;
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = matrix[c]![c]!;
    trace += tp;
    const support = rowSums[c]!;
    const predictedCount = colSums[c]!;
    const precision = predictedCount > 0 ? tp / predictedCount : 0;
    const recall = support > 0 ? tp / support : 0;
    const negatives = n - support;
    const tn = negatives - (predictedCount - tp);
    const specificity = negatives > 0 ? tn / negatives : 0;
    // The exact expression of precision_recall_fscore_support (beta = 1), for bit-level agreement.
    const denom = precision + recall;
    const f1 = (2 * precision * recall) / (denom === 0 ? 1 : denom);
    perClass.push({ classIndex: c, precision, recall, specificity, f1, support });
  }
  const average = (key: keyof AveragedMetrics, weighted: boolean) => {
    let sum = 0;
    for (const m of perClass) sum += m[key] * (weighted ? m.support : 1);
    return sum / (weighted ? n : k);
  };
  const averages = (weighted: boolean): AveragedMetrics => ({
    precision: average('precision', weighted),
    recall: average('recall', weighted),
    specificity: average('specificity', weighted),
    f1: average('f1', weighted),
  });
  const present = perClass.filter((m) => m.support > 0);
  const balancedAccuracy = present.reduce((a, m) => a + m.recall, 0) / present.length;
  // cohen_kappa_score: 1 − Σ_{i≠j} observed / Σ_{i≠j} expected, expected = outer(col sums, row sums) / n.
  let diagonalProducts = 0;
  for (let c = 0; c < k; c++) diagonalProducts += colSums[c]! * rowSums[c]!;
  const expectedOff = (n * n - diagonalProducts) / n;
  const observedOff = n - trace;
  const kappa = expectedOff === 0 ? null : 1 - observedOff / expectedOff;
  return { accuracy: trace / n, balancedAccuracy, perClass, macro: averages(false), weighted: averages(true), kappa };
}

/** top_k_accuracy_score for k = 1 … classes (see the header for the tie rule and the two-class case). */
export function topKAccuracy(labels: ArrayLike<number>, probs: Float32Array, k: number): number[] {
  const n = labels.length;
  if (k === 2) {
    let inUnit = true;
    for (let i = 0; i < n; i++) {
      const p = probs[i * 2 + 1]!;
      if (p < 0 || p > 1) inUnit = false;
    }
    const threshold = inUnit ? 0.5 : 0;
    let hits = 0;
    for (let i = 0; i < n; i++) if ((probs[i * 2 + 1]! > threshold ? 1 : 0) === labels[i]) hits++;
    return [hits / n, 1];
  }
  const rankCounts = new Float64Array(k);
  for (let i = 0, o = 0; i < n; i++, o += k) {
    const y = labels[i]!;
    const own = probs[o + y]!;
    let rank = 0;
    for (let c = 0; c < k; c++) {
      const s = probs[o + c]!;
      if (s > own || (s === own && c > y)) rank++;
    }
    rankCounts[rank]!++;
  }
  const out: number[] = [];
  let cumulative = 0;
  for (let j = 0; j < k; j++) {
    cumulative += rankCounts[j]!;
    out.push(cumulative / n);
  }
  return out;
}

/** Per true class, the other classes it was predicted as, most often first (ties by class order). */
export function mostConfusedWith(matrix: number[][], limit = Infinity): ConfusedWith[][] {
  return matrix.map((row, c) => {
    const support = row.reduce((a, b) => a + b, 0);
    return row
      .map((count, j) => ({ classIndex: j, count, fraction: support > 0 ? count / support : 0 }))
      .filter((e) => e.classIndex !== c && e.count > 0)
      .sort((a, b) => b.count - a.count || a.classIndex - b.classIndex)
      .slice(0, limit);
  });
}

export interface RocSummary {
  readonly ranked: RankedColumn[];
  readonly perClass: (number | null)[];
  readonly curves: (RocCurve | null)[];
  readonly macro: number | null;
  /** The columns averaged into `macro` (class 1 alone for two classes). */
  readonly macroColumns: number[];
}

/** One-vs-rest curves and AUCs of every class, plus the project's AUC (see the header). */
export function rocSummary(labels: ArrayLike<number>, probs: Float32Array, n: number, k: number): RocSummary {
  const ranked: RankedColumn[] = [];
  const perClass: (number | null)[] = [];
  const curves: (RocCurve | null)[] = [];
  const keys = columnKeys(probs, n, k);
  for (let c = 0; c < k; c++) {
    const column = rankColumn(labels, keys.subarray(c * n, (c + 1) * n), c);
    ranked.push(column);
    perClass.push(columnAuc(column));
    curves.push(columnRocCurve(column));
  }
  const macroColumns = k === 2 ? (perClass[1] === null ? [] : [1]) : perClass.flatMap((a, c) => (a === null ? [] : [c]));
  const macro = macroColumns.length === 0 ? null : macroColumns.reduce((s, c) => s + perClass[c]!, 0) / macroColumns.length;
  return { ranked, perClass, curves, macro, macroColumns };
}

export interface ComputeOptions {
  /** false: no confidence intervals; otherwise the bootstrap's options. */
  readonly bootstrap?: false | BootstrapOptions;
  readonly calibrationBins?: number;
}

/** Every metric of issue 5 for one set of predictions. Throws MetricsInputError on malformed input. */
export function computeMetrics(input: Predictions, options: ComputeOptions = {}): EvaluationMetrics {
  const n = checkPredictions(input);
  const { labels, probs, k } = input;
  const predicted = predictedClasses(probs, n, k);
  const matrix = confusionMatrix(labels, predicted, k);
  const summary = summarizeConfusion(matrix);
  const roc = rocSummary(labels, probs, n, k);
  let confidenceIntervals: BootstrapResult | null = null;
  if (options.bootstrap !== false) {
    const correct = new Uint8Array(n);
    for (let i = 0; i < n; i++) correct[i] = predicted[i] === labels[i] ? 1 : 0;
    confidenceIntervals = bootstrapConfidenceIntervals(
      {
        n,
        correct,
        accuracy: summary.accuracy,
        aucColumns: roc.macroColumns.map((c) => roc.ranked[c]!),
        aucColumnValues: roc.macroColumns.map((c) => roc.perClass[c]!),
        auc: roc.macro,
      },
      options.bootstrap ?? {},
    );
  }
  return {
    n,
    k,
    accuracy: summary.accuracy,
    balancedAccuracy: summary.balancedAccuracy,
    topK: topKAccuracy(labels, probs, k),
    perClass: summary.perClass,
    macro: summary.macro,
    weighted: summary.weighted,
    kappa: summary.kappa,
    confusionMatrix: { matrix, normalized: normalizeRows(matrix) },
    auc: { macro: roc.macro, perClass: roc.perClass },
    roc: roc.curves,
    calibration: calibration(labels, predicted, probs, k, options.calibrationBins ?? 10),
    mostConfusedWith: mostConfusedWith(matrix),
    confidenceIntervals,
  };
}

/** The bootstrap seed of stored evaluations: the same predictions always get the same intervals. */
export const EVALUATION_BOOTSTRAP_SEED = 20_240_601;

/**
 * k-fold out-of-fold predictions pooled into one set, fold after fold: every held-out image once, judged by the
 * model that did not train on it. The folds must share the class list (k).
 */
export function poolFolds(folds: readonly Predictions[]): Predictions {
  if (folds.length === 0) throw new MetricsInputError('No folds to pool');
  const k = folds[0]!.k;
  if (folds.some((f) => f.k !== k)) throw new MetricsInputError('The folds were trained on different classes: they cannot be pooled');
  const n = folds.reduce((a, f) => a + f.labels.length, 0);
  const labels = new Int32Array(n);
  const probs = new Float32Array(n * k);
  let at = 0;
  for (const f of folds) {
    labels.set(f.labels, at);
    probs.set(f.probs.subarray(0, f.labels.length * k), at * k);
    at += f.labels.length;
  }
  return { labels, probs, k };
}

/** The scalar metrics summarized across folds. */
export const FOLD_METRICS = [
  'accuracy',
  'balancedAccuracy',
  'kappa',
  'auc',
  'macroPrecision',
  'macroRecall',
  'macroSpecificity',
  'macroF1',
  'weightedF1',
  'ece',
] as const;
export type FoldMetric = (typeof FOLD_METRICS)[number];

export interface FoldAggregate {
  readonly perFold: Record<FoldMetric, number | null>[];
  /** Mean and sample standard deviation (ddof = 1) over the folds where the metric is defined. */
  readonly summary: Record<FoldMetric, { readonly mean: number | null; readonly std: number | null; readonly folds: number }>;
}

/** The scalar metrics of one evaluation that folds are compared on. */
export function foldScalars(m: EvaluationMetrics): Record<FoldMetric, number | null> {
  return {
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    kappa: m.kappa,
    auc: m.auc.macro,
    macroPrecision: m.macro.precision,
    macroRecall: m.macro.recall,
    macroSpecificity: m.macro.specificity,
    macroF1: m.macro.f1,
    weightedF1: m.weighted.f1,
    ece: m.calibration.ece,
  };
}

/** k-fold runs: each fold's metrics and their mean ± std. */
export function aggregateFolds(folds: readonly EvaluationMetrics[]): FoldAggregate {
  const perFold = folds.map(foldScalars);
  const summary = {} as Record<FoldMetric, { mean: number | null; std: number | null; folds: number }>;
  for (const key of FOLD_METRICS) {
    const values = perFold.map((f) => f[key]).filter((v): v is number => v !== null);
    const mean = values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : null;
    const std =
      values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean!) ** 2, 0) / (values.length - 1)) : null;
    summary[key] = { mean, std, folds: values.length };
  }
  return { perFold, summary };
}
