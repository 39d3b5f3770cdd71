/**
 * Probability-scale views of a set of predictions (issue 5): the reliability diagram with the expected
 * calibration error, and the movable operating threshold of two-class projects. Pure TypeScript.
 */

export interface CalibrationBin {
  /** Bin b covers (b/10, (b+1)/10], bin 0 also takes 0: the binning of sklearn.calibration.calibration_curve. */
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Mean confidence (probability of the predicted class) in the bin; null when empty. */
  readonly meanConfidence: number | null;
  /** Share of the bin's predictions that are right; null when empty. */
  readonly accuracy: number | null;
}

export interface Calibration {
  readonly bins: CalibrationBin[];
  /** Σ count/n × |accuracy − mean confidence| over the bins (Guo et al. 2017). */
  readonly ece: number;
}

/**
 * Reliability diagram of the confidence of the predicted class, in `binCount` equal-width bins.
 * Edges are numpy.linspace(0, 1, binCount + 1) (edge i = i × (1 / binCount), last = 1), and a confidence goes to
 * the bin whose upper edge is the first one ≥ it, as numpy.searchsorted(edges[1:-1], p) does.
 */
export function calibration(
  labels: ArrayLike<number>,
  predicted: Int32Array,
  probs: Float32Array,
  k: number,
  binCount = 10,
): Calibration {
  const n = predicted.length;
  const step = 1 / binCount;
  const edges = Array.from({ length: binCount + 1 }, (_, i) => (i === binCount ? 1 : i * step));
  const counts = new Float64Array(binCount);
  const confSums = new Float64Array(binCount);
  const hitSums = new Float64Array(binCount);
  for (let i = 0; i < n; i++) {
    const confidence = probs[i * k + predicted[i]!]!;
    // Linear scan of the inner edges: with 10 bins it beats a binary search.
    let bin = 0;
    while (bin < binCount - 1 && edges[bin + 1]! < confidence) bin++;
    counts[bin]!++;
    confSums[bin]! += confidence;
    if (predicted[i] === labels[i]) hitSums[bin]!++;
  }
  let ece = 0;
  const bins: CalibrationBin[] = [];
  for (let b = 0; b < binCount; b++) {
    const count = counts[b]!;
    const meanConfidence = count > 0 ? confSums[b]! / count : null;
    const accuracy = count > 0 ? hitSums[b]! / count : null;
    if (count > 0) ece += (count / n) * Math.abs(accuracy! - meanConfidence!);
    bins.push({ lower: edges[b]!, upper: edges[b + 1]!, count, meanConfidence, accuracy });
  }
  return { bins, ece };
}

/** Scores of the positive class split by truth and sorted, so a slider can query any threshold in O(log n). */
export interface ThresholdModel {
  readonly positiveClass: number;
  readonly positiveScores: Float64Array;
  readonly negativeScores: Float64Array;
}

export interface OperatingPoint {
  readonly threshold: number;
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
  /** TP / (TP + FN); 0 when there are no positives (zero_division=0). */
  readonly sensitivity: number;
  /** TN / (TN + FP); 0 when there are no negatives. */
  readonly specificity: number;
  /** TP / (TP + FP); 0 when nothing is called positive. */
  readonly precision: number;
}

export function thresholdModel(labels: ArrayLike<number>, probs: Float32Array, k: number, positiveClass = 1): ThresholdModel {
  if (k !== 2) throw new RangeError(`an operating threshold needs a two-class project, this one has ${k} classes`);
  const n = labels.length;
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < n; i++) (labels[i] === positiveClass ? pos : neg).push(probs[i * k + positiveClass]!);
  return {
    positiveClass,
    positiveScores: Float64Array.from(pos).sort(),
    negativeScores: Float64Array.from(neg).sort(),
  };
}

/** Number of values < t in an ascending array. */
function countBelow(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A row is called positive when its score is ≥ the threshold, the meaning of roc_curve's thresholds. */
export function operatingPoint(model: ThresholdModel, threshold: number): OperatingPoint {
  const P = model.positiveScores.length;
  const N = model.negativeScores.length;
  const fn = countBelow(model.positiveScores, threshold);
  const tn = countBelow(model.negativeScores, threshold);
  const tp = P - fn;
  const fp = N - tn;
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    sensitivity: P > 0 ? tp / P : 0,
    specificity: N > 0 ? tn / N : 0,
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
  };
}
