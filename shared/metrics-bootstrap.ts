/**
 * Seeded percentile-bootstrap confidence intervals for accuracy and AUC (issue 5).
 *
 * A resample draws n rows with replacement. Two ways of doing it, chosen by cost (the result says which):
 *
 * - 'exact' (when n × AUC classes × B ≤ exactWorkLimit, 2·10^7 by default: e.g. 20,000 two-class rows, or 2,000
 *   rows of 10 classes): row = floor(random() * n) from `seededRandom(seed)`, resample 0 taking the first n
 *   numbers, resample 1 the next n, and so on (a test rebuilds them); accuracy and AUC are recomputed on each
 *   resample, the AUC by a weighted Mann–Whitney sweep over each class's pre-sorted scores.
 * - 'linearized' (above that: 100,000 rows × 50 classes × 1000 would be 5·10^9 row visits, while the issue gives
 *   the whole evaluation 2 s): the accuracy of a resample depends only on how many drawn rows are right, which is
 *   Binomial(n, accuracy), so that count is drawn directly (the same distribution as drawing rows). The AUC uses
 *   its first-order expansion: each row's influence on the AUC (DeLong's placements, averaged over the classes)
 *   is computed once, and a resample's AUC is the estimate plus the sum of its drawn rows' influences. That sum
 *   is drawn through counts: rows sorted by influence are cut into `groups` (256) quantile groups, the multinomial
 *   counts of draws per group are sampled (conditional binomials), each count contributes count × group mean,
 *   and the spread inside the groups is added as a normal term of the exact variance Σ count × group variance.
 *   The neglected second-order term shrinks like 1/(positives of the rarest class); the tests bound the gap to
 *   the exact path.
 *
 * AUC = the positive class's for two classes, else the macro one-vs-rest AUC over the classes defined on the
 * resample (exact) / on the full set (linearized). Percentiles are numpy's default (linear).
 */
import { seededRandom } from './random.ts';
import { addAucInfluence, weightedColumnAuc, type RankedColumn } from './metrics-roc.ts';

export interface BootstrapOptions {
  /** Number of resamples B (default 1000). */
  readonly resamples?: number;
  /** Seed of `seededRandom` (default 0). */
  readonly seed?: number;
  /** Two-sided confidence level (default 0.95: the 2.5th and 97.5th percentiles). */
  readonly confidence?: number;
  /** 'auto' (default) picks 'exact' when n × AUC classes × B ≤ exactWorkLimit (default 2·10^7). */
  readonly aucMethod?: 'auto' | 'exact' | 'linearized';
  readonly exactWorkLimit?: number;
  /** Quantile groups of the linearized path (default 256). */
  readonly groups?: number;
  /** Keep every resample's value (for tests and histograms). */
  readonly keepSamples?: boolean;
}

export interface ConfidenceInterval {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
  /** Resamples on which the statistic was defined (an AUC needs a positive and a negative). */
  readonly resamples: number;
  readonly samples?: number[];
}

export interface BootstrapResult {
  readonly seed: number;
  readonly resamples: number;
  readonly confidence: number;
  readonly accuracy: ConfidenceInterval;
  /** Null when the AUC is undefined on the full set. */
  readonly auc: ConfidenceInterval | null;
  readonly method: 'exact' | 'linearized';
}

/** What the bootstrap needs from the point estimates; `aucColumns` are the classes whose AUCs are averaged. */
export interface BootstrapInput {
  readonly n: number;
  readonly correct: Uint8Array;
  readonly accuracy: number;
  readonly aucColumns: readonly RankedColumn[];
  readonly aucColumnValues: readonly number[];
  readonly auc: number | null;
}

/** numpy.percentile's default ('linear') on ascending values, with numpy's own interpolation formula. */
export function percentile(sortedValues: ArrayLike<number>, q: number): number {
  const m = sortedValues.length;
  if (m === 0) return Number.NaN;
  const virtual = (m - 1) * (q / 100);
  const below = Math.max(0, Math.min(m - 1, Math.floor(virtual)));
  const above = Math.min(m - 1, below + 1);
  const gamma = virtual - Math.floor(virtual);
  const a = sortedValues[below]!;
  const b = sortedValues[above]!;
  const diff = b - a;
  return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
}

function interval(estimate: number, values: Float64Array, count: number, confidence: number, keep: boolean): ConfidenceInterval {
  const sorted = values.slice(0, count).sort();
  const tail = ((1 - confidence) / 2) * 100;
  return {
    estimate,
    lower: percentile(sorted, tail),
    upper: percentile(sorted, 100 - tail),
    resamples: count,
    ...(keep ? { samples: Array.from(values.subarray(0, count)) } : {}),
  };
}

const LOG_FACTORIALS = (() => {
  const table = new Float64Array(256);
  for (let i = 1; i < 256; i++) table[i] = table[i - 1]! + Math.log(i);
  return table;
})();

/** ln(k!): a table below 256, Stirling's series above (error below 1e-16 there). */
function logFactorial(k: number): number {
  if (k < 256) return LOG_FACTORIALS[k]!;
  const inv = 1 / k;
  const inv2 = inv * inv;
  return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260));
}

/**
 * One Binomial(trials, p) draw from one uniform: the probability masses are laid out from the mode outwards
 * (mode, mode+1, mode−1, …) and the uniform picks one, so the expected work is the standard deviation.
 */
export function binomial(trials: number, p: number, random: () => number): number {
  if (trials <= 0 || p <= 0) return 0;
  if (p >= 1) return trials;
  if (p > 0.5) return trials - binomial(trials, 1 - p, random);
  const ratio = p / (1 - p);
  const mode = Math.min(trials, Math.floor((trials + 1) * p));
  const pmfMode = Math.exp(
    logFactorial(trials) - logFactorial(mode) - logFactorial(trials - mode) + mode * Math.log(p) + (trials - mode) * Math.log1p(-p),
  );
  let u = random() - pmfMode;
  if (u < 0) return mode;
  let lo = mode;
  let hi = mode;
  let pLo = pmfMode;
  let pHi = pmfMode;
  for (;;) {
    let moved = false;
    if (hi < trials) {
      pHi *= ((trials - hi) / (hi + 1)) * ratio;
      hi++;
      u -= pHi;
      if (u < 0) return hi;
      moved = true;
    }
    if (lo > 0) {
      pLo *= lo / (trials - lo + 1) / ratio;
      lo--;
      u -= pLo;
      if (u < 0) return lo;
      moved = true;
    }
    // Rounding can leave a sliver of mass unassigned: give it to the mode.
    if (!moved) return mode;
  }
}

/** The linearized path's influence quantile groups: sizes, means and within-group variances. */
function influenceGroups(influence: Float64Array, groupCount: number) {
  const sorted = influence.slice().sort();
  const n = sorted.length;
  const G = Math.max(1, Math.min(groupCount, n));
  const sizes = new Float64Array(G);
  const means = new Float64Array(G);
  const variances = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    const start = Math.floor((g * n) / G);
    const end = Math.floor(((g + 1) * n) / G);
    let sum = 0;
    for (let i = start; i < end; i++) sum += sorted[i]!;
    const mean = sum / (end - start);
    let squares = 0;
    for (let i = start; i < end; i++) squares += (sorted[i]! - mean) ** 2;
    sizes[g] = end - start;
    means[g] = mean;
    variances[g] = squares / (end - start);
  }
  return { sizes, means, variances };
}

export function bootstrapConfidenceIntervals(input: BootstrapInput, options: BootstrapOptions = {}): BootstrapResult {
  const { n, correct, aucColumns } = input;
  const B = options.resamples ?? 1000;
  const seed = options.seed ?? 0;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`bootstrap resamples must be a positive integer, got ${B}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  const hasAuc = input.auc !== null && aucColumns.length > 0;
  const requested = options.aucMethod ?? 'auto';
  const method: 'exact' | 'linearized' =
    requested === 'auto' ? (n * Math.max(1, aucColumns.length) * B <= (options.exactWorkLimit ?? 2e7) ? 'exact' : 'linearized') : requested;

  const random = seededRandom(seed);
  const accuracies = new Float64Array(B);
  const aucs = new Float64Array(B);
  let aucCount = 0;
  if (method === 'exact') {
    const weights = new Int32Array(n);
    for (let b = 0; b < B; b++) {
      let hits = 0;
      weights.fill(0);
      for (let t = 0; t < n; t++) {
        const row = Math.floor(random() * n);
        hits += correct[row]!;
        weights[row]!++;
      }
      accuracies[b] = hits / n;
      if (!hasAuc) continue;
      let sum = 0;
      let defined = 0;
      for (const ranked of aucColumns) {
        const auc = weightedColumnAuc(ranked, weights);
        if (auc !== null) {
          sum += auc;
          defined++;
        }
      }
      if (defined > 0) aucs[aucCount++] = sum / defined;
    }
  } else {
    let rightRows = 0;
    for (let i = 0; i < n; i++) rightRows += correct[i]!;
    const groups = hasAuc ? linearizedGroups(input, options.groups ?? 256) : null;
    for (let b = 0; b < B; b++) {
      accuracies[b] = binomial(n, rightRows / n, random) / n;
      if (!groups) continue;
      let remainingDraws = n;
      let remainingRows = n;
      let shift = 0;
      let spread = 0;
      for (let g = 0; g < groups.sizes.length; g++) {
        const size = groups.sizes[g]!;
        const count = remainingRows === size ? remainingDraws : binomial(remainingDraws, size / remainingRows, random);
        remainingDraws -= count;
        remainingRows -= size;
        shift += count * groups.means[g]!;
        spread += count * groups.variances[g]!;
      }
      // Box–Muller normal for the within-group part.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      shift += Math.sqrt(spread) * z;
      // A first-order step can leave [0, 1] on small sets; an AUC cannot.
      aucs[aucCount++] = Math.min(1, Math.max(0, input.auc! + shift));
    }
  }
  const keep = options.keepSamples ?? false;
  return {
    seed,
    resamples: B,
    confidence,
    method,
    accuracy: interval(input.accuracy, accuracies, B, confidence, keep),
    auc: hasAuc ? interval(input.auc!, aucs, aucCount, confidence, keep) : null,
  };
}

/** Each row's influence on the averaged AUC, grouped by quantile for the multinomial draw. */
function linearizedGroups(input: BootstrapInput, groupCount: number) {
  const influence = new Float64Array(input.n);
  input.aucColumns.forEach((ranked, i) => addAucInfluence(ranked, input.aucColumnValues[i]!, influence));
  const share = 1 / input.aucColumns.length;
  for (let i = 0; i < input.n; i++) influence[i]! *= share;
  return influenceGroups(influence, groupCount);
}
